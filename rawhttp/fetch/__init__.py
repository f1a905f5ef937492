"""Many transfers from one command: URL globbing (curl's `[1-100]` and `{a,b}`), a page's
requisites (`requisites` finds them, `page` fetches and saves them, wget's `-p -k`), and the
connection strategies (`strategies`: non-persistent, persistent, pipelined, and parallel on one
selectors loop in `parallel`, both driving the sans-IO `conversation`). Pure where it can be:
`globbing` turns a pattern into URLs and `requisites` a document into URLs without any I/O,
`conversation` turns bytes into answers without a socket."""

# Connections at once with -Z when --parallel-max is not given: curl's default.
PARALLEL_MAX = 50
# The most --parallel-max accepts: curl's cap too (and each connection holds a descriptor).
PARALLEL_LIMIT = 300
