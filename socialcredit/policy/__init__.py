"""Policy: the versioned, published rules (catalogue, ratings, lists, measures, memoranda)."""
