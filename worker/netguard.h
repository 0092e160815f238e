/* SPDX-License-Identifier: MIT */
/*
 * The address policy of URL fetches (the SSRF guard).  Owns the list of
 * exceptions given with --allow-hosts and decides, for a host name and the
 * address it resolved to, whether a fetch may connect there.  By default it
 * refuses every address that is not a public unicast address: loopback,
 * link-local (169.254.169.254 included), private, shared (CGNAT),
 * multicast, unspecified, broadcast, reserved and documentation ranges, IPv6
 * unique-local, link-local and site-local, and the IPv4-mapped,
 * IPv4-compatible, NAT64, 6to4 and Teredo forms of refused IPv4 addresses.
 * Pure computation: no I/O, no name resolution.
 */
#ifndef CELERIAC_NETGUARD_H
#define CELERIAC_NETGUARD_H

#include <stddef.h>
#include <sys/socket.h>

/* The exceptions: host names, addresses and CIDR blocks. */
struct netguard;

/* An empty list (everything refused is refused).  NULL when out of memory. */
struct netguard *netguard_new(void);
void netguard_free(struct netguard *g);

/*
 * Adds the entries of list, separated by commas or spaces: a host name
 * ("files.example.com", matched without regard to case and to a final dot),
 * an address ("127.0.0.1", "::1") or a CIDR block ("10.0.0.0/8",
 * "fd00::/8").  Returns 0, or -1 with *cause (malloc'ed, the caller frees)
 * naming the entry it could not read; entries before it are kept.
 */
int netguard_allow(struct netguard *g, const char *list, char **cause);

/*
 * Why the default policy refuses addr ("loopback", "private (RFC 1918)",
 * ...), or NULL when it is a public unicast address.  A static string.
 */
const char *netguard_classify(const struct sockaddr *addr);

/*
 * Whether a fetch of host (the name in the URL, or the address literal)
 * may connect to addr: 0 when allowed (not refused, or opened by an
 * exception for the name or the address), -1 when refused, with the reason
 * in why[0..whylen) (e.g. "127.0.0.2 is loopback").
 */
int netguard_check(const struct netguard *g, const char *host,
                   const struct sockaddr *addr, char *why, size_t whylen);

/*
 * Writes the numeric form of addr ("192.0.2.1", "2001:db8::1") to
 * out[0..outlen).  Returns out.
 */
const char *netguard_addr_str(const struct sockaddr *addr, char *out,
                              size_t outlen);

#endif
