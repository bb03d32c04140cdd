/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kube.h - the Kubernetes API as a struct source (source.h).
 *
 * What kube-proxy watches, the same way (informer.h): Services and
 * discovery.k8s.io/v1 EndpointSlices with the label selector
 *   !service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless
 * and this node's Node (fieldSelector metadata.name=HOSTNAME): its zone for
 * topology; when it is deleted, being deleted or drained by the cluster
 * autoscaler, /healthz answers 503 (source.h: node_eligible). Ready
 * once each of the three has been listed completely; nothing is
 * programmed before.
 *
 * Credentials (kubeconfig.h): --kubeconfig FILE, --master URL, or, with
 * neither, the in-cluster service account. Objects get origin "api", so a
 * rejected one reads "api: Service ns/name: spec.ports[0].port: ...", and
 * keeps its last good version. While the API server is unreachable, slow
 * or failing, nothing changes: the rules programmed stay.
 */
#ifndef SVCPROXY_KUBE_H
#define SVCPROXY_KUBE_H

#include <stdbool.h>

#include "source/source.h"

struct decode_opts;

/*
 * kubeconfig and master may be NULL (both NULL: in-cluster); hostname is
 * this node's name; copied. opts (the cluster's validation settings, may
 * be NULL) must outlive the source. start() fails with -EINVAL (unusable
 * kubeconfig) or -ENOENT (no credentials at all), reasons in its diag.
 * Aborts on out of memory.
 */
struct source *kube_source_open(const char *kubeconfig, const char *master, const char *hostname,
                                const struct decode_opts *opts);

#endif
