/*
 * health_state.h: the health-check state machine of one endpoint, without
 * sockets or timers, so that it can be tested on its own.
 *
 * It is HAProxy's health counter: `health` runs from 0 to rise+fall-1 and the
 * endpoint is up iff health >= rise.
 *   - A passed check raises health by one (up to rise+fall-1); reaching rise
 *     makes the endpoint up and fills the counter to rise+fall-1.
 *   - A failed check lowers health by one (down to 0); dropping below rise
 *     makes the endpoint down and empties the counter to 0.
 * Hence exactly `fall` consecutive failures take a fully up endpoint down and
 * exactly `rise` consecutive passes bring a down endpoint (health 0) back up.
 * An isolated failure on an up endpoint costs one step that the next pass
 * gives back; an isolated pass on a down endpoint is forgotten by the next
 * failure.
 *
 * Thread: none of its own; the caller owns *health (the checker, main thread).
 */
#ifndef TERN_HEALTH_STATE_H
#define TERN_HEALTH_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum health_transition {
    HEALTH_TRANSITION_NONE = 0,
    HEALTH_TRANSITION_UP,   /* the endpoint was down and is now up */
    HEALTH_TRANSITION_DOWN, /* the endpoint was up and is now down */
};

/*
 * Applies one check result to the counter *health (0..rise+fall-1; a value
 * out of range is clamped first). rise and fall of 0 count as 1.
 * Returns the transition this result causes, if any.
 */
enum health_transition health_state_update(uint32_t *health, uint32_t rise, uint32_t fall,
                                           bool ok);

/* True when a counter value means "up" for this rise. */
static inline bool health_state_is_up(uint32_t health, uint32_t rise)
{
    return health >= (rise ? rise : 1);
}

#endif /* TERN_HEALTH_STATE_H */
