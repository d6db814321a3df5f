/*
 * pd_rfc2047.h - RFC 2047 encoded words, decoded to UTF-8.
 *
 * GMime 3.2 joins the payloads of adjacent base64 words before decoding, and
 * loses everything after the first word that ends in '=' padding
 * ("=?UTF-8?B?0KHQu9C+0LHQvtC00LXQvQ==?= =?UTF-8?B?INCf...?=" decodes to its
 * first word only).  This module decodes each word on its own, joins the
 * bytes of adjacent words in the same charset (a character may be split
 * across them), and converts each run to UTF-8.
 *
 *   char *text = pd_rfc2047_decode("=?UTF-8?q?Micha=C5=82?= W");  "Michał W"
 *   char *norm = pd_rfc2047_normalize(raw_address_header);
 *
 * pd_rfc2047_normalize() rewrites each run of adjacent encoded words as one
 * =?UTF-8?B?...?= word and leaves the rest alone, so that an address parser
 * (GMime's) sees one well-formed word.  Text outside encoded words that is
 * not valid UTF-8 is read as Windows-1252.  Both return malloc'd strings,
 * NULL only when out of memory.
 */
#ifndef PD_RFC2047_H
#define PD_RFC2047_H

char *pd_rfc2047_decode(const char *in);
char *pd_rfc2047_normalize(const char *in);

#endif
