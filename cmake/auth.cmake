# cjose (Cisco's JOSE library, Debian's libcjose-dev) verifies the ID tokens
# and signed userinfo of OpenID Connect providers (src/auth/oidc.c): no
# hand-written signature code.
pkg_check_modules(CJOSE REQUIRED IMPORTED_TARGET cjose)
list(APPEND LAIR_EXTRA_LIBS PkgConfig::CJOSE)
