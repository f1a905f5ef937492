"""Many transfers from one command: URL globbing (curl's `[1-100]` and `{a,b}`), the
connection strategies (`strategies`: non-persistent, persistent, pipelined, and parallel on
one selectors loop in `parallel`, both driving the sans-IO `conversation`), and (to come) a
page's requisites. Pure where it can be: `globbing` turns a pattern into URLs without any I/O,
`conversation` turns bytes into answers without a socket."""
