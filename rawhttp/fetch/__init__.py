"""Many transfers from one command: URL globbing (curl's `[1-100]` and `{a,b}`), and (to
come) a page's requisites and the connection strategies. Pure where it can be: `globbing`
turns a pattern into URLs without any I/O."""
