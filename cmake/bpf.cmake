# Compile a BPF C source with clang against the vendored kernel-headers/ and
# libbpf's helper headers only, and wrap the object in a `bpftool gen
# skeleton` header. Creates an INTERFACE target whose include path has
# <NAME>.skel.h.

find_program(CLANG_EXECUTABLE clang REQUIRED)
find_program(LLVM_STRIP_EXECUTABLE llvm-strip REQUIRED)
find_program(BPFTOOL_EXECUTABLE bpftool PATHS /usr/sbin /sbin REQUIRED)

execute_process(COMMAND ${CLANG_EXECUTABLE} -print-resource-dir
  OUTPUT_VARIABLE CLANG_RESOURCE_DIR OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)

# libbpf's BPF-side headers, copied so that the BPF build sees no other host header.
set(BPF_HELPER_INCLUDE_DIR ${CMAKE_BINARY_DIR}/bpf-include)
foreach(header bpf_helpers.h bpf_helper_defs.h bpf_endian.h)
  configure_file(${LIBBPF_INCLUDEDIR}/bpf/${header} ${BPF_HELPER_INCLUDE_DIR}/bpf/${header} COPYONLY)
endforeach()

set(BPF_CFLAGS
  -target bpf -mcpu=v3 -O2 -g
  -Wall -Wextra -Werror
  -nostdinc -isystem ${CLANG_RESOURCE_DIR}/include
  -I${CMAKE_SOURCE_DIR}/kernel-headers
  -I${BPF_HELPER_INCLUDE_DIR}
  -I${CMAKE_SOURCE_DIR}/maps
  -I${CMAKE_SOURCE_DIR}/bpf)

function(airgap_bpf_object out_var)
  cmake_parse_arguments(ARG "" "SOURCE;NAME" "" ${ARGN})
  set(obj ${CMAKE_BINARY_DIR}/bpf/${ARG_NAME}.bpf.o)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/bpf
    COMMAND ${CLANG_EXECUTABLE} ${BPF_CFLAGS} -MD -MF ${obj}.d -MT ${obj} -c ${ARG_SOURCE} -o ${obj}.full
    # Keep BTF, drop DWARF: the skeleton embeds the object.
    COMMAND ${LLVM_STRIP_EXECUTABLE} -g ${obj}.full -o ${obj}
    DEPENDS ${ARG_SOURCE}
    DEPFILE ${obj}.d
    COMMENT "Compiling BPF object ${ARG_NAME}.bpf.o"
    VERBATIM)
  set(${out_var} ${obj} PARENT_SCOPE)
endfunction()

function(airgap_bpf_skeleton target)
  cmake_parse_arguments(ARG "" "SOURCE;NAME" "" ${ARGN})
  airgap_bpf_object(obj SOURCE ${ARG_SOURCE} NAME ${ARG_NAME})
  set(skel_dir ${CMAKE_BINARY_DIR}/skel)
  set(skel ${skel_dir}/${ARG_NAME}.skel.h)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${skel_dir}
    COMMAND sh -c "\"$0\" gen skeleton \"$1\" name \"$2\" > \"$3.tmp\" && mv \"$3.tmp\" \"$3\""
            ${BPFTOOL_EXECUTABLE} ${obj} ${ARG_NAME} ${skel}
    DEPENDS ${obj}
    COMMENT "Generating BPF skeleton ${ARG_NAME}.skel.h"
    VERBATIM)
  add_custom_target(${target}_gen DEPENDS ${skel})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE ${skel_dir})
endfunction()
