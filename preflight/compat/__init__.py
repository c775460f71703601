"""Host compatibility judgements (issue 10): pure functions over typed facts of a source, a
destination and a guest, each returning Finding tuples. Nothing here gathers, registers a check
or renders: these become checks (or derive functions) once the fact registry lands."""
