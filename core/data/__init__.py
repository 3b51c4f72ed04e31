"""The data model every stage fills and every writer reads: the Transcript and its parts, the
options of each stage (and their JSON record), and the errors with their exit codes."""
