"""The business answer: how engagement relates to sales, as SQL the lake's engine runs, plus charts."""
