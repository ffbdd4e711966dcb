/* The system log for headexport.c, in a file of its own: <syslog.h> and
 * core/log.h both name LOG_INFO and LOG_DEBUG. */
#include <syslog.h>

void audit_head_syslog_open(void);
void audit_head_syslog(const char *line);
void audit_head_syslog_close(void);

void audit_head_syslog_open(void)
{
    openlog("libreair-audit", LOG_PID, LOG_AUTHPRIV);
}

void audit_head_syslog(const char *line)
{
    syslog(LOG_AUTHPRIV | LOG_INFO, "%s", line);
}

void audit_head_syslog_close(void)
{
    closelog();
}
