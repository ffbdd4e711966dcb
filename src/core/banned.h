/* Functions that invite buffer overflows or silent parse errors. Including
 * this header after the system headers turns each use into a compile error;
 * use buf_printf, snprintf, memcpy with explicit lengths, and strtol instead. */
#ifndef LAIR_BANNED_H
#define LAIR_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_libreair

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef gets
#define gets(x) BANNED(gets)

#endif
