# VsnHarness.cmake — how every C harness, its helper libraries and its ASan/UBSan twin are declared.
# Included once from the top-level CMakeLists.txt (the daemon in src/vhost-user-vsock uses the
# same flags). The warning flags, the sanitizer flags and the sanitizer environment live here and
# nowhere else.
#
#   vsn_c11(target [ASAN] [OPTIMIZE])
#       C11 without extensions, _GNU_SOURCE, VSN_WARNINGS; ASAN adds VSN_SANITIZE (compile and
#       link), OPTIMIZE adds -O2 whatever the build type.
#   vsn_harness_library(name SOURCES src... [INCLUDE dir...] [LINK lib...] [TWIN_LINK lib...]
#                       [OPTIMIZE])
#       a static library <name> and its sanitized twin <name>_asan; TWIN_LINK libraries are
#       linked as <lib> into <name> and as <lib>_asan into <name>_asan. OPTIMIZE: plain one only.
#   vsn_harness(name SOURCES src... [LINK ...] [TWIN_LINK ...] [ASAN] [CASES] [OPTIMIZE]
#               [DAEMON] [TEST_NAME test] [TIMEOUT s] [ARGS arg...])
#       the executable <name> and its ctest test (named TEST_NAME, default <name>); ASAN adds the
#       twin <name>_asan and the test <test>_asan, run with VSN_ASAN_ENV. DAEMON passes the
#       vhost-user-vsock daemon (its -asan build to the twin) as the first argument.
#       CASES: the harness takes `--list` (prints its case names) and `--case NAME` (runs that
#       case alone); ctest then has one test per case, <test>/<case>, read from `--list` when
#       ctest starts, so a failure names its case and `ctest -R '<test>/<case>'` reruns just it.
#       The twin stays one test that runs every case (the cheaper way to keep ASan coverage).

set(VSN_WARNINGS -Wall -Wextra -Werror -pedantic)
set(VSN_SANITIZE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
# LeakSanitizer: the NativeAOT runtime inside libvsocknative.so keeps process-lifetime allocations.
set(VSN_LSAN_SUPP ${CMAKE_CURRENT_LIST_DIR}/lsan.supp)
set(VSN_ASAN_ENV
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
    "LSAN_OPTIONS=suppressions=${VSN_LSAN_SUPP}:print_suppressions=0"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
set(VSN_COMMON_DIR ${CMAKE_CURRENT_LIST_DIR}/../common) # vsn_case.h, vsn_sock.h
set(VSN_HARNESS_CASES_IN ${CMAKE_CURRENT_LIST_DIR}/vsn_cases.cmake.in)

function(vsn_c11 target)
  cmake_parse_arguments(PARSE_ARGV 1 A "ASAN;OPTIMIZE" "" "")
  target_compile_options(${target} PRIVATE ${VSN_WARNINGS})
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  set_target_properties(${target} PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  target_include_directories(${target} PRIVATE ${VSN_COMMON_DIR})
  if(A_ASAN)
    target_compile_options(${target} PRIVATE ${VSN_SANITIZE})
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      target_link_options(${target} INTERFACE ${VSN_SANITIZE})
    else()
      target_link_options(${target} PRIVATE ${VSN_SANITIZE})
    endif()
  endif()
  if(A_OPTIMIZE)
    target_compile_options(${target} PRIVATE -O2)
  endif()
endfunction()

function(vsn_harness_library name)
  cmake_parse_arguments(PARSE_ARGV 1 A "OPTIMIZE" "" "SOURCES;INCLUDE;LINK;TWIN_LINK")
  foreach(variant "" "_asan")
    set(t ${name}${variant})
    add_library(${t} STATIC ${A_SOURCES})
    target_include_directories(${t} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR} ${A_INCLUDE})
    set(twins "")
    foreach(lib ${A_TWIN_LINK})
      list(APPEND twins ${lib}${variant})
    endforeach()
    target_link_libraries(${t} PUBLIC ${twins} ${A_LINK})
    if(variant STREQUAL "_asan")
      vsn_c11(${t} ASAN)
    elseif(A_OPTIMIZE)
      vsn_c11(${t} OPTIMIZE)
    else()
      vsn_c11(${t})
    endif()
  endforeach()
endfunction()

function(vsn_harness name)
  cmake_parse_arguments(PARSE_ARGV 1 A "ASAN;CASES;OPTIMIZE;DAEMON" "TEST_NAME;TIMEOUT"
                        "SOURCES;LINK;TWIN_LINK;ARGS")
  if(NOT A_TEST_NAME)
    set(A_TEST_NAME ${name})
  endif()
  set(variants "")
  if(A_ASAN)
    set(variants "_asan")
  endif()
  foreach(variant "" ${variants})
    set(t ${name}${variant})
    set(test ${A_TEST_NAME}${variant})
    add_executable(${t} ${A_SOURCES})
    set(twins "")
    foreach(lib ${A_TWIN_LINK})
      list(APPEND twins ${lib}${variant})
    endforeach()
    target_link_libraries(${t} PRIVATE ${twins} ${A_LINK})
    set(args ${A_ARGS})
    if(A_DAEMON)
      string(REPLACE "_" "-" daemon_suffix "${variant}")
      set(args $<TARGET_FILE:vhost-user-vsock${daemon_suffix}> ${args})
    endif()
    set(env "")
    if(variant STREQUAL "_asan")
      vsn_c11(${t} ASAN)
      set(env ${VSN_ASAN_ENV})
    elseif(A_OPTIMIZE)
      vsn_c11(${t} OPTIMIZE)
    else()
      vsn_c11(${t})
    endif()
    if(A_CASES AND variant STREQUAL "")
      # One test per case, listed by the harness itself when ctest starts.
      set(VSN_CASES_EXE "$<TARGET_FILE:${t}>")
      set(VSN_CASES_TEST ${test})
      string(REPLACE ";" " " VSN_CASES_ARGS "${args}")
      set(VSN_CASES_TIMEOUT "${A_TIMEOUT}")
      string(REPLACE ";" "\\;" VSN_CASES_ENV "${env}")
      configure_file(${VSN_HARNESS_CASES_IN} ${CMAKE_CURRENT_BINARY_DIR}/${test}_cases.cmake.in @ONLY)
      file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${test}_cases.cmake
           INPUT ${CMAKE_CURRENT_BINARY_DIR}/${test}_cases.cmake.in)
      set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${CMAKE_CURRENT_BINARY_DIR}/${test}_cases.cmake)
    else()
      add_test(NAME ${test} COMMAND ${t} ${args})
      if(A_TIMEOUT)
        set_tests_properties(${test} PROPERTIES TIMEOUT ${A_TIMEOUT})
      endif()
      if(env)
        set_tests_properties(${test} PROPERTIES ENVIRONMENT "${env}")
      endif()
    endif()
  endforeach()
endfunction()
