"""Exercise 1 creates nothing, so there is nothing to tear down."""
