"""The named parts the stacks are composed of.

A part owns what belongs together (a role and what it may do, an add-on and its ordering),
never a stateful resource whose logical ID is pinned (tests/test_pinned_ids.py): those stay
at the stack's top level, or are anchored there by a part (OpenMarketFunction's log group and
dead-letter queue), so that moving code never replaces data.
"""
