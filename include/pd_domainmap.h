/*
 * pd_domainmap.h - email domain -> employer, from a map in gitdm's format,
 * for the digest's employers table (config DomainMap).
 *
 * The file holds lines "[user@]domain  employer  [< yyyy-mm-dd]": blanks
 * between the fields, the employer may contain blanks, '#' starts a comment.
 * A dated line gives the employer until that date; the undated line of the
 * same key gives it after.  An address is looked up as a whole, then by its
 * domain, then by the domain with leading labels taken off (a.b.ibm.com,
 * b.ibm.com, ibm.com): the most specific line wins.
 *
 *   struct pd_domainmap *map;
 *   if (pd_domainmap_load(path, &map, err, sizeof err) < 0) ... "file:line: ..." ...
 *   const char *who = pd_domainmap_lookup(map, "jane@linux.ibm.com", time(NULL));
 *   pd_domainmap_free(map);
 */
#ifndef PD_DOMAINMAP_H
#define PD_DOMAINMAP_H

#include <stddef.h>
#include <stdint.h>

struct pd_domainmap;

int pd_domainmap_load(const char *path, struct pd_domainmap **out, char *err, size_t errlen);
/* Parse the map from memory; name is used in error messages. */
int pd_domainmap_parse(const char *name, const char *text, size_t len,
                       struct pd_domainmap **out, char *err, size_t errlen);
/* The employer of an address (lower-case) at time when; NULL when unknown. */
const char *pd_domainmap_lookup(const struct pd_domainmap *m, const char *addr, int64_t when);
size_t pd_domainmap_size(const struct pd_domainmap *m);
void pd_domainmap_free(struct pd_domainmap *m);

#endif
