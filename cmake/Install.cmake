# Installation (GNUInstallDirs) and the Debian package (CPack DEB).
#
#   cmake --install build --prefix /usr            # or DESTDIR=/tmp/stage cmake --install ...
#   cpack -G DEB --config build/CPackConfig.cmake  # preforkd_VERSION_amd64.deb
#
# Installs the binaries, the annotated configuration as SYSCONFDIR/preforkd/preforkd.toml
# (/etc/preforkd/preforkd.toml for the /usr prefix, PREFIX/etc/preforkd otherwise), the systemd units into
# PREFORKD_SYSTEMD_UNIT_DIR with the real binary and configuration paths, the man pages
# preforkd(8) and preforkctl(1), and the documentation.
include(GNUInstallDirs)

# The system unit directory: what systemd's pkg-config file says, else Debian's.
set(_unit_dir /lib/systemd/system)
if(PKG_CONFIG_FOUND)
  pkg_get_variable(_pc_unit_dir systemd systemdsystemunitdir)
  if(_pc_unit_dir)
    set(_unit_dir "${_pc_unit_dir}")
  endif()
endif()
set(PREFORKD_SYSTEMD_UNIT_DIR "${_unit_dir}" CACHE PATH "Where the systemd units are installed")

# The configuration file and the units: paths decided at install time (see the script).
install(CODE "
  set(PREFORKD_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(PREFORKD_BINARY_DIR \"${CMAKE_BINARY_DIR}\")
  set(PREFORKD_SYSTEMD_UNIT_DIR \"${PREFORKD_SYSTEMD_UNIT_DIR}\")
  set(PREFORKD_INSTALL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")")
install(SCRIPT cmake/InstallSystemFiles.cmake)
install(FILES docs/man/preforkd.8 DESTINATION "${CMAKE_INSTALL_MANDIR}/man8")
install(FILES docs/man/preforkctl.1 DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")

# ---------------------------------------------------------------- .deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME preforkd)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "preforkd maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "descriptor-passing prefork supervisor")
set(CPACK_PACKAGE_DESCRIPTION
    "preforkd accepts TCP connections in one supervisor process and hands each one to an idle \
pre-forked worker over a Unix socket (SCM_RIGHTS). It runs as a systemd service \
(Type=notify, optional socket activation) configured in /etc/preforkd/preforkd.toml.")
# Debug information stays in the build tree.
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps where it is installed (dpkg-dev); adduser
# is what postinst needs to create the system user.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
find_program(DPKG_SHLIBDEPS_EXECUTABLE dpkg-shlibdeps)
if(DPKG_SHLIBDEPS_EXECUTABLE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps not found: the .deb lists only adduser as a dependency")
endif()
# The configuration file is a conffile (dpkg keeps local changes on upgrade); the
# maintainer scripts reload systemd's view of the units and enable nothing.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/cmake/debian/conffiles"
    "${PROJECT_SOURCE_DIR}/cmake/debian/postinst"
    "${PROJECT_SOURCE_DIR}/cmake/debian/prerm"
    "${PROJECT_SOURCE_DIR}/cmake/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
