"""`fuelbreak.held`: state a process holds between tasks, taken out while a task uses it."""

from fuelbreak.held import held_keys, hold, take_held


def test_a_task_takes_the_state_out_and_a_failed_one_leaves_nothing_behind():
    hold(("t", 1), [1])
    assert ("t", 1) in held_keys()
    assert take_held(("t", 1)) == [1]
    assert take_held(("t", 1)) is None  # taken: a task that now fails puts nothing half-updated back


def test_the_oldest_states_go_beyond_the_limit():
    for i in range(20):
        hold(("t", i), i, max_entries=4)
    assert [take_held(("t", i)) for i in (15, 16, 19)] == [None, 16, 19]
    hold(("t", 17), "again", max_entries=4)  # holding an existing key makes it the newest
    assert held_keys()[-1] == ("t", 17)
    for key in held_keys():
        take_held(key)
