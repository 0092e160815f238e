/* SPDX-License-Identifier: MIT */
/* The web dashboard's page, served at / by `celeriac web` (web.h). */
#ifndef CELERIAC_WEBPAGE_H
#define CELERIAC_WEBPAGE_H

extern const char webpage_html[];

#endif
