/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model.h - the Kubernetes objects svcproxy acts on, as plain C values.
 *
 * Sources (manifest files, later the API server) decode objects into these
 * structs; compile reads them and never sees YAML or JSON. Every object
 * carries its origin (a file path, or "api") so later stages can name it in
 * messages. Strings and arrays are owned by the object: *_free() releases
 * everything and accepts NULL and half-built objects.
 */
#ifndef SVCPROXY_MODEL_H
#define SVCPROXY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

/* IP protocol numbers as the kernel uses them (meta l4proto). */
enum l4proto {
	L4_TCP = 6,
	L4_UDP = 17,
	L4_SCTP = 132,
};

const char *l4proto_name(uint8_t proto); /* "tcp", "udp", "sctp" */
/* Parse "TCP"/"UDP"/"SCTP" (Kubernetes spelling) or lowercase. 0 if unknown. */
uint8_t l4proto_parse(const char *s);

enum svc_type {
	SVC_CLUSTER_IP = 0,
	SVC_NODE_PORT,
	SVC_LOAD_BALANCER,
	SVC_EXTERNAL_NAME,
};

struct svc_port {
	char *name;             /* "" when the Service has a single unnamed port */
	uint8_t proto;          /* enum l4proto */
	uint16_t port;          /* the virtual port, 1-65535 */
	uint16_t target_port;   /* numeric targetPort; 0 when named */
	char *target_port_name; /* named targetPort, or NULL */
	uint16_t node_port;     /* 0 when none */
};

struct service {
	uint64_t gen;  /* unique per decoded object, set by model_add_service(); 0 before */
	uint64_t hash; /* of "ns/name", set with gen */
	char *origin;  /* file path, or "api" */
	char *ns;
	char *name;
	enum svc_type type;
	bool headless;              /* spec.clusterIP: None */
	bool ignored;               /* labelled service.kubernetes.io/service-proxy-name */
	struct ipaddr *cluster_ips; /* spec.clusterIPs (or clusterIP), primary first */
	size_t n_cluster_ips;
	struct svc_port *ports;
	size_t n_ports;
	struct ipaddr *external_ips;
	size_t n_external_ips;
	struct ipaddr *lb_ips; /* status.loadBalancer.ingress[].ip */
	size_t n_lb_ips;
	struct cidr *lb_source_ranges;
	size_t n_lb_source_ranges;
	bool etp_local; /* externalTrafficPolicy: Local */
	bool itp_local; /* internalTrafficPolicy: Local */
	bool affinity_client_ip;
	uint32_t affinity_timeout; /* seconds; default 10800 */
	uint16_t health_check_node_port;
	char *traffic_distribution; /* spec.trafficDistribution, or NULL */
};

struct eps_port {
	char *name; /* "" for the unnamed port */
	uint8_t proto;
	uint16_t port;
};

struct endpoint {
	struct ipaddr addr; /* addresses[0], as kube-proxy uses */
	bool ready;         /* conditions.ready; absent means true */
	bool serving;       /* conditions.serving; absent means = ready */
	bool terminating;   /* conditions.terminating; absent means false */
	char *node_name;    /* or NULL */
	char *zone;         /* or NULL */
	char **hint_zones;  /* hints.forZones[].name */
	size_t n_hint_zones;
};

struct endpoint_slice {
	uint64_t gen;  /* as service.gen */
	uint64_t hash; /* of "ns/service_name", set with gen: the Service it belongs to */
	char *origin;
	char *ns;
	char *name;
	char *service_name;  /* label kubernetes.io/service-name */
	int family;          /* addressType: AF_INET or AF_INET6 */
	bool from_endpoints; /* converted from a legacy v1 Endpoints subset */
	/* annotation endpoints.kubernetes.io/last-change-trigger-time, unix
	 * seconds; 0 if none (kubeproxy_network_programming_duration_seconds) */
	double trigger_time;
	struct eps_port *ports;
	size_t n_ports;
	struct endpoint *endpoints;
	size_t n_endpoints;
};

struct node {
	char *origin;
	char *name;
	char *zone; /* label topology.kubernetes.io/zone, or NULL */
};

void service_free(struct service *s);
void endpoint_slice_free(struct endpoint_slice *e);
void node_free(struct node *n);

/*
 * Same content (every field but origin, gen and hash): what tells a real
 * change from a rewrite with the same text. Both must be non-NULL.
 */
bool service_equal(const struct service *a, const struct service *b);
bool endpoint_slice_equal(const struct endpoint_slice *a, const struct endpoint_slice *b);
bool node_equal(const struct node *a, const struct node *b);

/*
 * A snapshot of everything the sources know: what compile turns into
 * dataplane state. Arrays of owned pointers; model_free() frees them all.
 */
struct model {
	struct service **services;
	size_t n_services;
	struct endpoint_slice **slices;
	size_t n_slices;
	struct node **nodes;
	size_t n_nodes;
	size_t cap_services, cap_slices, cap_nodes; /* room in the arrays */
};

void model_free(struct model *m);
/* Free only the arrays of a view whose objects belong to someone else. */
void model_free_view(struct model *m);
/*
 * Empty a view, keeping its arrays for the next one: a view of 10k
 * Services taken at every sync would otherwise map its arrays afresh.
 */
void model_view_clear(struct model *m);
/*
 * Append an object. The first time an object is added anywhere it gets
 * its generation number: a decoded object never shares one with another,
 * so "same gen" means "the same object, unchanged" (compile caches on it;
 * an address can be reused after free, a gen cannot). Cannot fail.
 */
void model_add_service(struct model *m, struct service *s);
void model_add_slice(struct model *m, struct endpoint_slice *e);
/*
 * Addresses of Services and slices freed since the count since (a *now of
 * an earlier call; 0 at start): into out (room for MODEL_FREED_LOG), their
 * number returned, *now set; -1 when more were freed than are remembered.
 * Tells an object from a new one at a reused address (compile's views).
 */
#define MODEL_FREED_LOG 64
int model_freed_since(uint64_t since, const void **out, uint64_t *now);
/* FNV-1a of "ns/name": what service.hash and endpoint_slice.hash hold. */
uint64_t model_name_hash(const char *ns, const char *name);
void model_add_node(struct model *m, struct node *n);
/*
 * A view of objects already in another model (so they have their gen and
 * hash): append v[0..n) except those whose hide[i] is set (hide may be
 * NULL), without reading the objects. A view of 10k objects costs a copy
 * of pointers, not 10k cache misses.
 */
void model_view_services(struct model *m, struct service *const *v, size_t n, const uint8_t *hide);
void model_view_slices(struct model *m, struct endpoint_slice *const *v, size_t n,
                       const uint8_t *hide);

#endif
