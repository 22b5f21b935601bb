/* fault.c: the state of the fault injection points (see fault.h). One small
 * table under a mutex: only armed points get here, so the lock is never on
 * a path that runs outside the tests. */
#include "fault.h"

#include <pthread.h>

typedef struct {
    long nth;    /* fail from this hit on (0: disarmed) */
    long repeat; /* this many failures; < 0: no end */
    long hits, fired;
} s_point_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_point_t s_point[EW_FAULT_COUNT];
static int s_narmed;

atomic_int ew_fault__armed;

void ew_fault_arm(ew_fault_t p, long nth, long repeat)
{
    if ((unsigned)p >= EW_FAULT_COUNT)
        return;
    pthread_mutex_lock(&s_lock);
    s_narmed -= s_point[p].nth > 0;
    s_point[p] = (s_point_t){.nth = nth > 0 ? nth : 0, .repeat = repeat ? repeat : 1};
    s_narmed += s_point[p].nth > 0;
    atomic_store(&ew_fault__armed, s_narmed > 0);
    pthread_mutex_unlock(&s_lock);
}

void ew_fault_reset(void)
{
    for (int p = 0; p < EW_FAULT_COUNT; p++)
        ew_fault_arm((ew_fault_t)p, 0, 0);
}

int ew_fault_hit(ew_fault_t p)
{
    pthread_mutex_lock(&s_lock);
    s_point_t *s = &s_point[p];
    int fail = 0;
    if (s->nth > 0) {
        s->hits++;
        fail = s->hits >= s->nth && (s->repeat < 0 || s->hits < s->nth + s->repeat);
        s->fired += fail;
    }
    pthread_mutex_unlock(&s_lock);
    return fail;
}

long ew_fault_hits(ew_fault_t p)
{
    pthread_mutex_lock(&s_lock);
    long n = (unsigned)p < EW_FAULT_COUNT ? s_point[p].hits : 0;
    pthread_mutex_unlock(&s_lock);
    return n;
}

long ew_fault_fired(ew_fault_t p)
{
    pthread_mutex_lock(&s_lock);
    long n = (unsigned)p < EW_FAULT_COUNT ? s_point[p].fired : 0;
    pthread_mutex_unlock(&s_lock);
    return n;
}
