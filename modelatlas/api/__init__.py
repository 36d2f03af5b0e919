"""The read API: REST v2 and GraphQL over the marts, for programs that do not write SQL."""
