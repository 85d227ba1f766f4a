"""The box a child process runs in (`sandbox`: started cold; `warm`: forked from a server
that imported its libraries once). A leaf: the rules that start children import it."""
