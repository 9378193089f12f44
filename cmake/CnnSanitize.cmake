# AddressSanitizer + UndefinedBehaviorSanitizer for the C code (the CI's
# second pass). Any UB report fails the run instead of scrolling past.
if(CNN_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_san}>")
  add_link_options(-fsanitize=address,undefined)
endif()
