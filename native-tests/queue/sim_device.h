/*
 * sim_device.h — binds the driver simulator (native-tests/sim, the GUEST) to a VsockNative device
 * (the DEVICE, through the public header only), the way a VMM would wire them.
 *
 * What the binding does
 *  - creates the device, in manual-poll mode (the caller's thread runs the device inside
 *    vsn_device_poll) or in thread mode (the device runs its own event loop);
 *  - hands it the simulator's region table (plus optional extra regions), the driver features
 *    and, per queue, the ring layout of a simulator queue it creates;
 *  - wires kicks either as eventfds the device watches (the simulator's notifier writes them) or
 *    as vsn_queue_notify() calls made by the notifier;
 *  - wires interrupts either as call eventfds (the binding reads and counts them) or as an
 *    interrupt_fn that counts them (and, in thread mode, wakes a waiter through an eventfd);
 *  - offers the driver loop every test needs: reap until N entries came back, with a deadline,
 *    polling the device (manual mode) or sleeping on the queue's interrupt (thread mode).
 *
 * Conventions
 *  - Prefix vsn_sd_.  Functions return 0 (or a documented count) on success, a negative errno
 *    for device/system failures, or a vsn_sim_err (all below -4095) for simulator failures;
 *    vsn_sd_strerror() names either.
 *  - Thread rules: one driver thread uses a queue at a time (the simulator's rule).  Control
 *    calls (start/stop/reconnect/configure) come from one control thread; they may run while a
 *    driver thread uses a queue only when kicks go through eventfds (VSN_SD_F_KICK_FD), because
 *    a vsn_queue_notify() notifier reads the device handle the control thread replaces.
 *  - Every wait has a deadline; nothing sleeps to synchronise.
 *  - The binding owns the device, the simulator queues and the eventfds; the caller owns the
 *    simulated memory, which must outlive the binding.
 */
#ifndef VSN_SIM_DEVICE_H
#define VSN_SIM_DEVICE_H

#include "vsock_native.h"
#include "vsn_sim.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The device runs its own event-loop thread (else VSN_DEVICE_F_MANUAL_POLL). */
#define VSN_SD_F_THREAD 0x1u
/** Kicks through eventfds given as kick_fd (else the notifier calls vsn_queue_notify). */
#define VSN_SD_F_KICK_FD 0x2u
/** Interrupts through eventfds given as call_fd (else a counting interrupt_fn). */
#define VSN_SD_F_CALL_FD 0x4u

/** Driver features the binding accepts when the config says 0. */
#define VSN_SD_DEFAULT_FEATURES                                                                 \
    ((1ull << VSN_VIRTIO_F_VERSION_1) | (1ull << VSN_VIRTIO_RING_F_INDIRECT_DESC) |            \
     (1ull << VSN_VIRTIO_RING_F_EVENT_IDX))

/** Binding configuration; struct_size first. */
typedef struct vsn_sd_config {
    uint32_t struct_size;   /**< sizeof(vsn_sd_config) */
    uint32_t flags;         /**< VSN_SD_F_* */
    uint64_t guest_cid;     /**< 0 means 3 */
    uint64_t features;      /**< features the driver accepts; 0 means VSN_SD_DEFAULT_FEATURES */
    vsn_log_fn log_fn;      /**< NULL: device lines go to stderr if VSN_SD_LOG is set, else nowhere */
    void *log_user;
    int32_t log_level;      /**< VSN_LOG_* (used with log_fn or VSN_SD_LOG) */
} vsn_sd_config;

/** Opaque binding. */
typedef struct vsn_sd vsn_sd;

/** Returns a config with struct_size set, the given flags and defaults for the rest. */
vsn_sd_config vsn_sd_config_default(uint32_t flags);

/** Names a return code: vsn_sim_strerror() for simulator codes, strerror(-rc) for errnos. */
const char *vsn_sd_strerror(int rc);

/**
 * Creates the device and gives it mem's region table followed by nextra extra regions (may be
 * NULL/0; e.g. host mappings the simulator does not know), then the features.  No queue yet.
 * @return 0, a negative errno from the device, or VSN_SIM_E_ARG
 */
int vsn_sd_create(const vsn_sd_config *cfg, vsn_sim_mem *mem, const vsn_mem_region *extra,
                  uint32_t nextra, vsn_sd **out);

/** Stops and destroys the device, the simulator queues and the eventfds; *sd = NULL.
 *  Safe on NULL and twice. */
void vsn_sd_destroy(vsn_sd **sd);

/** The device handle (changes on vsn_sd_reconnect). */
vsn_device *vsn_sd_device(const vsn_sd *sd);

/** The binding's flags (VSN_SD_F_*). */
uint32_t vsn_sd_flags(const vsn_sd *sd);

/**
 * Creates a simulator queue of `size` on the memory, with the ring features the driver
 * negotiated (INDIRECT_DESC / EVENT_IDX bits of the features), its notifier wired to the
 * device, and sets the device's queue `index` up with its layout.
 * @param out receives the simulator queue (owned by the binding)
 * @return 0, a vsn_sim_err, or the negative errno of vsn_queue_setup
 */
int vsn_sd_add_queue(vsn_sd *sd, uint32_t index, uint16_t size, vsn_sim_queue **out);

/** As vsn_sd_add_queue, but the simulator queue gets sim_features (VSN_SIM_FEAT bits) whatever
 *  the device negotiated, e.g. to offer INDIRECT descriptors the device did not accept. */
int vsn_sd_add_queue_ex(vsn_sd *sd, uint32_t index, uint16_t size, uint64_t sim_features,
                        vsn_sim_queue **out);

/** Replaces queue index's simulator queue with a fresh one (new rings on the same memory, same
 *  wiring) and sets the device's queue up again.  Device stopped.  @return as vsn_sd_add_queue */
int vsn_sd_renew_queue(vsn_sd *sd, uint32_t index, vsn_sim_queue **out);

/** The simulator queue of index, or NULL. */
vsn_sim_queue *vsn_sd_queue(const vsn_sd *sd, uint32_t index);

/** Sends the memory table, the features and every queue's setup again (after vsn_device_reset).
 *  @return 0 or the first negative errno */
int vsn_sd_configure(vsn_sd *sd);

/**
 * A "reconnect": destroys the device and creates a new one with the same config, then
 * vsn_sd_configure().  The rings and the eventfds stay; the new device is not started and its
 * queues start at avail index 0: restore them with vsn_queue_set_base().
 * @return 0 or a negative errno
 */
int vsn_sd_reconnect(vsn_sd *sd);

/** vsn_device_start / vsn_device_stop on the current device. */
int vsn_sd_start(vsn_sd *sd);
int vsn_sd_stop(vsn_sd *sd);

/** Called after each counted interrupt_fn interrupt (not for call fds), on the thread that
 *  processes the queue: inside vsn_device_poll in manual mode, while the device is still in
 *  the middle of its queue pass (it interrupts every 64 used entries).  A hook may drive the
 *  simulator queue (it runs on the driver's thread in manual mode); it must not stop the device. */
typedef void (*vsn_sd_irq_hook)(void *user, uint32_t queue_index);

/** Sets (or clears with NULL) queue index's interrupt hook; call while the device is stopped or
 *  in manual mode.  @return 0 or VSN_SIM_E_ARG */
int vsn_sd_set_irq_hook(vsn_sd *sd, uint32_t index, vsn_sd_irq_hook fn, void *user);

/** Notifications the queue's notifier delivered (eventfd writes or vsn_queue_notify calls). */
uint64_t vsn_sd_kicks(const vsn_sd *sd, uint32_t index);

/** Negative result of the last failed notification, or 0. */
int vsn_sd_kick_error(const vsn_sd *sd, uint32_t index);

/**
 * Interrupts the queue received so far (monotonic): interrupt_fn calls, or the sum of the call
 * eventfd's counter (read here, non-blocking).  With a call fd, call it from one thread only.
 */
uint64_t vsn_sd_irqs(vsn_sd *sd, uint32_t index);

/**
 * Lets the device make progress once.  Manual mode: vsn_device_poll(timeout_ms) on this thread,
 * returning its result.  Thread mode: waits up to timeout_ms for an interrupt on the queue,
 * returning 1 if one is pending, 0 on timeout (the interrupt is still counted by vsn_sd_irqs).
 */
int vsn_sd_progress(vsn_sd *sd, uint32_t index, int timeout_ms);

/** Receives each reaped element. */
typedef void (*vsn_sd_used_fn)(void *user, const vsn_sim_used *u);

/** vsn_sd_reap flag: leave the driver's interrupt suppression alone; in thread mode wait in
 *  short bounded polls instead of sleeping until an interrupt. */
#define VSN_SD_REAP_KEEP_IRQ 0x1u

/**
 * Reaps queue index until `want` elements came back or timeout_ms passed.  Between attempts,
 * manual mode polls the device; thread mode re-enables interrupts (Linux virtqueue_enable_cb:
 * with a re-check) and sleeps on the queue's interrupt, so a missing interrupt shows up as a
 * timeout.  Elements whose len exceeds the chain's writable bytes are passed to fn like the
 * others (fn checks len).  Interrupts read from a call fd while waiting are added to
 * vsn_sd_irqs(), so call both from the same (driver) thread.
 * @param got receives the number reaped (may be NULL)
 * @return 0; -ETIMEDOUT; a device error from vsn_device_poll; VSN_SIM_E_USED_IDX_JUMP /
 *         VSN_SIM_E_USED_ID / VSN_SIM_E_BROKEN (the device corrupted the used ring)
 */
int vsn_sd_reap(vsn_sd *sd, uint32_t index, uint32_t want, int timeout_ms, uint32_t flags,
                vsn_sd_used_fn fn, void *user, uint32_t *got);

/** Monotonic milliseconds (for deadlines). */
int64_t vsn_sd_now_ms(void);

/** Reads the device counters / one queue's counters; 0 or a negative errno. */
int vsn_sd_device_counters(const vsn_sd *sd, vsn_device_counter_values *out);
int vsn_sd_queue_counters(const vsn_sd *sd, uint32_t index, vsn_queue_counter_values *out);
/** Reads the connection layer's counters; 0 or a negative errno. */
int vsn_sd_conn_counters(const vsn_sd *sd, vsn_connection_layer_counter_values *out);

/** Encodes a little-endian vsock header (44 bytes) for a tx packet. */
void vsn_sd_hdr(struct vsn_virtio_vsock_hdr *h, uint64_t src_cid, uint32_t src_port,
                uint32_t dst_port, uint32_t len, uint16_t op);

#ifdef __cplusplus
}
#endif

#endif /* VSN_SIM_DEVICE_H */
