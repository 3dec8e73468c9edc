# Debian 12's xsimd package exports a target whose INTERFACE_LINK_LIBRARIES
# names "xtl" without finding it, so every consumer fails with "cannot find
# -lxtl". xsimd itself is header-only and needs no xtl for sqllm: drop the
# entry when no xtl target exists. Harmless where the package is correct.
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_sqllm_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_sqllm_xsimd_libs)
    list(REMOVE_ITEM _sqllm_xsimd_libs xtl)
    set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_sqllm_xsimd_libs}")
  endif()
  unset(_sqllm_xsimd_libs)
endif()
