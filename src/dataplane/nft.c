/* SPDX-License-Identifier: GPL-2.0-or-later */
/* placeholder: being written */
typedef int svcproxy_placeholder_nft;
