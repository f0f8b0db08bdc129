/*
 * health_state.c: HAProxy's rise/fall health counter (see health_state.h).
 * The counter saturates at both ends so a long run of passes or failures
 * does not delay the opposite transition: a fully up endpoint is always
 * exactly `fall` failures away from down, and a down one `rise` passes away
 * from up.
 */
#include "proxy/health/health_state.h"

enum health_transition health_state_update(uint32_t *health, uint32_t rise, uint32_t fall,
                                           bool ok)
{
    uint32_t max, h;
    bool was_up;

    if (rise == 0)
        rise = 1;
    if (fall == 0)
        fall = 1;
    max = rise + fall - 1;
    h = *health > max ? max : *health;
    was_up = h >= rise;

    if (ok) {
        if (h < max)
            h++;
        if (h >= rise)
            h = max;
    } else {
        if (h > 0)
            h--;
        if (h < rise)
            h = 0;
    }
    *health = h;

    if (!was_up && h >= rise)
        return HEALTH_TRANSITION_UP;
    if (was_up && h < rise)
        return HEALTH_TRANSITION_DOWN;
    return HEALTH_TRANSITION_NONE;
}
