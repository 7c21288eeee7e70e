"""rnn-grader: an automated grader for the recurrent-network homework."""

__version__ = "0.1.0"
