"""The servers the comparisons start: one module per comparison, each variant a module attribute."""
