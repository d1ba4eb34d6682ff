#ifndef QUICKMIRROR_CSYSTEMD_H
#define QUICKMIRROR_CSYSTEMD_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
