"""Documentation; ``docs.examples`` holds runnable examples the tests serve."""
