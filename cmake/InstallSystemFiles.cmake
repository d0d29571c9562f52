# Runs at install time (install(SCRIPT) from cmake/Install.cmake), where CMAKE_INSTALL_PREFIX
# is the prefix of this very install: `cmake --install build --prefix /usr`, or CPack's /usr.
# The configuration and the units depend on it, so they cannot be fixed at configure time:
# - the configuration goes to SYSCONFDIR/preforkd, with GNUInstallDirs' rule that the /usr
#   prefix has its configuration in /etc (any other prefix: PREFIX/etc);
# - the units name the installed binary and configuration.
# DESTDIR applies as usual (file(INSTALL) prefixes absolute destinations with it).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_etc "/etc")
else()
  set(_etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(_config_dir "${_etc}/preforkd")
if(IS_ABSOLUTE "${PREFORKD_INSTALL_BINDIR}")
  set(_bindir "${PREFORKD_INSTALL_BINDIR}")
else()
  set(_bindir "${CMAKE_INSTALL_PREFIX}/${PREFORKD_INSTALL_BINDIR}")
endif()

file(INSTALL "${PREFORKD_SOURCE_DIR}/systemd/preforkd.toml" DESTINATION "${_config_dir}"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

foreach(_unit preforkd.service preforkd.socket preforkd-agent.socket)
  file(READ "${PREFORKD_SOURCE_DIR}/systemd/${_unit}" _text)
  string(REPLACE "/usr/bin/preforkd" "${_bindir}/preforkd" _text "${_text}")
  string(REPLACE "/etc/preforkd/" "${_config_dir}/" _text "${_text}")
  file(WRITE "${PREFORKD_BINARY_DIR}/systemd/${_unit}" "${_text}")
  file(INSTALL "${PREFORKD_BINARY_DIR}/systemd/${_unit}" DESTINATION "${PREFORKD_SYSTEMD_UNIT_DIR}"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
