# Fuzzing (tests/fuzz/). CNN_FUZZ=ON (clang only) builds every target of
# the project with libFuzzer's coverage instrumentation, AddressSanitizer
# and UndefinedBehaviorSanitizer (any UB report fatal), and one libFuzzer
# executable per reader, fuzz_<reader>:
#   CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCNN_FUZZ=ON -DCNN_WITH_CUDA=OFF
#   build-fuzz/tests/fuzz_npy -max_total_time=600 -timeout=10 tests/fuzz/corpus/npy
# Every build (gcc too) has the ctest fuzz_replay: the same target sources
# with a main that runs each corpus file through them.
option(CNN_FUZZ "libFuzzer targets tests/fuzz/fuzz_<reader> (clang; ASan + UBSan everywhere)" OFF)
set(CNN_FUZZ_READERS npy idx weights csv checkpoint cli)
set(CNN_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR}/../tests/fuzz)

if(CNN_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CNN_FUZZ=ON needs clang (libFuzzer): configure with "
                        "CC=clang-14 CXX=clang++-14 (apt-get install clang-14 libclang-rt-14-dev)")
  endif()
  if(CNN_SANITIZE)
    message(FATAL_ERROR "CNN_FUZZ=ON already builds with ASan + UBSan: leave CNN_SANITIZE off")
  endif()
  # -Wno-pass-failed: clang cannot vectorise the `omp simd` loops once they are instrumented;
  # -Wno-missing-field-initializers: clang's -Wextra flags positional initializers that
  # leave the trailing fields zero ({n, c, h, w} of a descriptor), which the code means
  # (142 of them, tests mostly); gcc does not warn there
  set(_fz -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
          -fno-omit-frame-pointer -g -Wno-pass-failed -Wno-missing-field-initializers)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_fz}>")
  add_link_options(-fsanitize=address,undefined)
endif()

# The targets; called from tests/CMakeLists.txt (cnn_harness exists by then).
function(cnn_add_fuzz_targets)
  set(dir ${CNN_FUZZ_DIR})
  add_executable(fuzz_replay ${dir}/fuzz_replay.c ${dir}/fuzz_util.c)
  target_include_directories(fuzz_replay PRIVATE ${dir})
  target_link_libraries(fuzz_replay PRIVATE cnn_harness)
  foreach(r IN LISTS CNN_FUZZ_READERS)
    # fuzz_replay's copy: the entry point renamed fuzz_one_<reader>
    add_library(fuzz_replay_${r} OBJECT ${dir}/fuzz_${r}.c)
    target_include_directories(fuzz_replay_${r} PRIVATE ${dir})
    target_link_libraries(fuzz_replay_${r} PRIVATE cnn_harness)
    target_compile_definitions(fuzz_replay_${r} PRIVATE LLVMFuzzerTestOneInput=fuzz_one_${r})
    target_sources(fuzz_replay PRIVATE $<TARGET_OBJECTS:fuzz_replay_${r}>)
    if(CNN_FUZZ)
      add_executable(fuzz_${r} ${dir}/fuzz_${r}.c ${dir}/fuzz_util.c)
      target_include_directories(fuzz_${r} PRIVATE ${dir})
      target_link_libraries(fuzz_${r} PRIVATE cnn_harness)
      target_link_options(fuzz_${r} PRIVATE -fsanitize=fuzzer)
    endif()
  endforeach()
  # Every corpus file (seeds and regression inputs) through its target.
  add_test(NAME fuzz_replay COMMAND fuzz_replay ${dir}/corpus)
  set_tests_properties(fuzz_replay PROPERTIES TIMEOUT 300)
endfunction()
