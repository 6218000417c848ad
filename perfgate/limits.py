"""The bounds of the settings that both perfgate.toml and the command line take, in one place."""

#: The practical margin, as in [judge] margin and --margin: a fraction of change (0.05 = 5%).
MARGIN_LOW, MARGIN_HIGH = 0.0, 10.0
#: Pairs of rounds: [rounds] count and --rounds, [rounds] max and --max-rounds.
ROUNDS_LOW, ROUNDS_HIGH, MAX_ROUNDS_HIGH = 2, 1000, 10000
