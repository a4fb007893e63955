/*
 * version.h - the one version string of CalPlaneBot, shown by both
 * binaries (--version) and in /health and /api/v1/health.
 */
#ifndef CPB_VERSION_H
#define CPB_VERSION_H

#define CPB_VERSION "0.1.0"

#endif
