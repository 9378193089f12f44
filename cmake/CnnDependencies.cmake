# Find every optional dependency; never assume one. Each found dependency sets
# CNN_HAVE_<X>; what is left out is said in the configure summary.
set(CNN_LEFT_OUT "")

find_package(OpenMP COMPONENTS C)
if(NOT OpenMP_C_FOUND)
  list(APPEND CNN_LEFT_OUT "OpenMP (CPU code runs single-threaded)")
endif()

# OpenBLAS. Prefer its OpenMP build: our own loops are OpenMP, and next to
# the pthread build OpenMP's idle threads spin on the cores OpenBLAS's own
# threads need (measured: VGG-16 conv1_2 under Winograd 640 ms against
# 65 ms). Debian installs the builds side by side (libopenblas-openmp-dev).
set(CNN_HAVE_OPENBLAS OFF)
if(CNN_WITH_OPENBLAS)
  set(_arch_inc /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
  set(_arch_lib /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
  find_path(CNN_CBLAS_INCLUDE cblas.h PATHS ${_arch_inc} /usr/include /usr/local/include
            PATH_SUFFIXES openblas-openmp NO_DEFAULT_PATH)
  find_library(CNN_OPENBLAS_LIB NAMES openblas PATHS ${_arch_lib} /usr/lib /usr/local/lib
               PATH_SUFFIXES openblas-openmp NO_DEFAULT_PATH)
  # otherwise whichever build the system has
  find_path(CNN_CBLAS_INCLUDE cblas.h
            PATH_SUFFIXES openblas-pthread openblas openblas-serial
                          x86_64-linux-gnu/openblas-pthread)
  find_library(CNN_OPENBLAS_LIB NAMES openblas PATH_SUFFIXES openblas-pthread openblas-serial)
  if(CNN_CBLAS_INCLUDE AND CNN_OPENBLAS_LIB)
    set(CNN_HAVE_OPENBLAS ON)
    add_library(cnn_openblas INTERFACE)
    target_include_directories(cnn_openblas INTERFACE ${CNN_CBLAS_INCLUDE})
    target_link_libraries(cnn_openblas INTERFACE ${CNN_OPENBLAS_LIB})
  else()
    list(APPEND CNN_LEFT_OUT "im2col, winograd (OpenBLAS not found: apt-get install libopenblas-dev)")
  endif()
else()
  list(APPEND CNN_LEFT_OUT "im2col, winograd (CNN_WITH_OPENBLAS=OFF)")
endif()

set(CNN_HAVE_ONEDNN OFF)
if(CNN_WITH_ONEDNN)
  # Debian's libdnnl-dev is built with the OpenCL GPU runtime, and its CMake
  # config calls find_package(OpenCL REQUIRED): without the OpenCL headers and
  # loader that is a hard configure error, so look for them first.
  find_package(OpenCL QUIET)
  if(OpenCL_FOUND)
    find_package(dnnl CONFIG QUIET)
  endif()
  if(NOT OpenCL_FOUND)
    list(APPEND CNN_LEFT_OUT "onednn (libdnnl-dev's CMake config needs OpenCL: apt-get install ocl-icd-opencl-dev opencl-c-headers)")
  elseif(dnnl_FOUND)
    set(CNN_HAVE_ONEDNN ON)
  else()
    list(APPEND CNN_LEFT_OUT "onednn (oneDNN not found: apt-get install libdnnl-dev)")
  endif()
else()
  list(APPEND CNN_LEFT_OUT "onednn (CNN_WITH_ONEDNN=OFF)")
endif()

set(CNN_HAVE_ZLIB OFF)
if(CNN_WITH_ZLIB)
  find_package(ZLIB)
  if(ZLIB_FOUND)
    set(CNN_HAVE_ZLIB ON)
  else()
    list(APPEND CNN_LEFT_OUT "gzip'd dataset reading (zlib not found: apt-get install zlib1g-dev)")
  endif()
endif()

set(CNN_HAVE_BENCHMARK OFF)
if(CNN_WITH_BENCHMARK)
  find_package(benchmark CONFIG QUIET)
  if(benchmark_FOUND)
    enable_language(CXX)
    set(CNN_HAVE_BENCHMARK ON)
  else()
    list(APPEND CNN_LEFT_OUT "Google Benchmark shim (apt-get install libbenchmark-dev)")
  endif()
endif()

# CUDA: enable the language only when a compiler is there. With no GPU on the
# build machine CMake's "native" architecture fails, so name them.
set(CNN_HAVE_CUDA OFF)
if(CNN_WITH_CUDA)
  include(CheckLanguage)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES ${CNN_CUDA_ARCHS})
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit)
    find_package(CUDNN)
    if(CUDAToolkit_FOUND AND CUDNN_FOUND AND TARGET CUDA::cublas)
      set(CNN_HAVE_CUDA ON)
    else()
      list(APPEND CNN_LEFT_OUT "cudnn (nvcc found, but cuDNN or cuBLAS not)")
    endif()
  else()
    list(APPEND CNN_LEFT_OUT "cudnn (no CUDA compiler: nvcc not on PATH)")
  endif()
else()
  list(APPEND CNN_LEFT_OUT "cudnn (CNN_WITH_CUDA=OFF)")
endif()

# A backend directory calls this to join the registry: the library target and
# the CNN_HAVE_<NAME> macro that makes kernels/registry.c list its tables.
function(cnn_add_backend target define)
  set_property(GLOBAL APPEND PROPERTY CNN_BACKEND_TARGETS ${target})
  set_property(GLOBAL APPEND PROPERTY CNN_BACKEND_DEFINES ${define})
endfunction()
