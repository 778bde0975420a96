"""The lessons' interactive demos: one module per lesson, each demo a plain function.

A demo takes the slider values as arguments, runs the core's reference code (never a student's),
draws its figure, prints the numbers the figure shows (rounded so saved outputs compare) and
returns them in a dict, so that tests can call it without a kernel.
"""
