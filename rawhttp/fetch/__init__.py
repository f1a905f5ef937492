"""Many transfers from one command: URL globbing (curl's `[1-100]` and `{a,b}`), a page's
requisites (`requisites` finds them, `page` fetches and saves them, wget's `-p -k`), and (to
come) the connection strategies. Pure where it can be: `globbing` turns a pattern into URLs
and `requisites` a document into URLs, without any I/O."""
