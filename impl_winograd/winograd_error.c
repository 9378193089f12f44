#include "winograd.h"

/* The derivation and the measurements behind the constants are in
 * winograd.h. */
cnn_error_class cnn_winograd_error(int tile_m)
{
    const bool f2 = tile_m <= 2;
    return (cnn_error_class){
        .kind = CNN_ERROR_WINOGRAD,
        .m = f2 ? 2 : 4,
        .r = 3,
        .a = f2 ? 2.0 : 12.0,
        .b = f2 ? 0.4 : 2.5,
        .s = 4.0,
    };
}
