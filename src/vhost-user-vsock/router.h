/*
 * router.h: sibling routing between the daemon's VMs. A guest REQUEST to a CID that is neither
 * the host nor the guest itself reaches the library's router callback (on the device's event-loop
 * thread, outside its lock); if a VM with that CID shares a group with the sender, the connection
 * is handed to its device with vsn_device_connect_from (source = the sender's CID and port), else it is
 * refused (the sender gets RST). Design and deadlock rules: src/VsockNative/Protocol/BEHAVIOUR.md.
 */
#ifndef VU_ROUTER_H
#define VU_ROUTER_H

#include "vm.h"

/* Installs the router on every VM's device. The table must outlive the devices' event loops. */
int router_attach(vm *vms, unsigned n);

#endif
