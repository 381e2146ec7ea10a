// RoIPool forward (with argmax) and deterministic backward, CUDA C++ for NVRTC.
//
// Semantics: exactly those of golden/ (torchvision / Caffe2 RoIPool), bit for
// bit.  The kernels never do arithmetic on feature values, so max pooling is
// exact by construction; the only places where floating-point rounding can
// differ between implementations are the RoI geometry (coordinate scaling and
// bin edges) and the backward sums.  Both are pinned down here:
//
// * Geometry uses explicit round-to-nearest intrinsics (__fmul_rn, __fdiv_rn,
//   __dmul_rn, __ddiv_rn) so the compiler can neither contract a multiply
//   into an FMA nor re-associate; the host compiles with -fmad=false as a
//   second guard.  bin_size is a division in the mode's type and each bin
//   position a separate multiply, as in torchvision's kernel.
// * float16 mode follows c10::Half: every operation in float32, each result
//   rounded to half (software RNE conversion below, exhaustively checked
//   against NumPy by the host emulation tests).
// * Backward sums each input element's contributions in the raster order of
//   grad_out (k, c, ph, pw) starting from 0, in float32 for float32/half/
//   bfloat16 grads and float64 for float64 grads, rounding once at the end:
//   the same order and precision as golden.roi_pool_backward, hence the same
//   bits, on every run (no atomics on floating-point values anywhere).
//
// Nothing in this file includes a header: NVRTC provides the math functions,
// and 16-bit floats are handled as raw bits (unsigned short) so that the
// same source also compiles as plain C++ for the host emulation harness
// (host/kernels/host_emulation.cpp), which is how the kernels are tested on a
// machine without a GPU.
//
// Index conventions: features (N, C, H, W) contiguous; batch (K,) int64;
// boxes (K, 4) [x1, y1, x2, y2] contiguous in the mode's coordinate type
// (float for "exact"/"float32", double for "float64", half bits for
// "float16" -- what torchvision's kernel sees, since it requires the RoI
// tensor in the input's dtype); out and argmax (K, C, PH, PW), argmax int64
// = h * W + w within the (batch[k], c) plane, or -1.

// ----------------------------------------------------------------------------
// Bin modes (must match host/cuda.py: _MODES)
// ----------------------------------------------------------------------------
#define ROI_MODE_EXACT 0
#define ROI_MODE_FLOAT32 1
#define ROI_MODE_FLOAT64 2
#define ROI_MODE_FLOAT16 3

#define ROI_INT_MIN (-2147483647 - 1)

// ----------------------------------------------------------------------------
// 16-bit float conversions (bit-exact, round to nearest even).  Used only for
// the float16 bin mode's geometry and for the backward of half/bfloat16
// grads; max pooling on 16-bit data compares integer keys (see roi_f16).
// ----------------------------------------------------------------------------
__device__ __forceinline__ float roi_half_to_float(unsigned short h) {
  unsigned int sign = ((unsigned int)h & 0x8000u) << 16;
  unsigned int e = ((unsigned int)h >> 10) & 0x1fu;
  unsigned int m = (unsigned int)h & 0x3ffu;
  if (e == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (m << 13));  // inf, NaN
  if (e == 0u) {
    // zero or subnormal: m * 2^-24, exact in float
    float v = (float)m * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

__device__ __forceinline__ unsigned short roi_float_to_half_rn(float f) {
  unsigned int x = __float_as_uint(f);
  unsigned int sign = (x >> 16) & 0x8000u;
  unsigned int ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (unsigned short)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN
  if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // >= 65520 rounds to inf
  unsigned int e = ax >> 23;
  if (e >= 113u) {  // normal half
    unsigned int h = ((e - 112u) << 10) | ((ax >> 13) & 0x3ffu);
    unsigned int rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h += 1u;  // carry may bump the exponent: correct
    return (unsigned short)(sign | h);
  }
  if (e < 102u) return (unsigned short)sign;  // below 2^-25: rounds to (signed) zero
  // subnormal half: value / 2^-24 = mant * 2^(e - 126), shift in [14, 24]
  unsigned int mant = (ax & 0x7fffffu) | 0x800000u;
  unsigned int shift = 126u - e;
  unsigned int q = mant >> shift;
  unsigned int rem = mant & ((1u << shift) - 1u);
  unsigned int halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u))) q += 1u;  // may become 0x400: smallest normal
  return (unsigned short)(sign | q);
}

__device__ __forceinline__ float roi_bf16_to_float(unsigned short b) {
  return __uint_as_float((unsigned int)b << 16);
}

__device__ __forceinline__ unsigned short roi_float_to_bf16_rn(float f) {
  unsigned int x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return (unsigned short)(x >> 16);
}

// Order-preserving integer key of a 16-bit float (sign-magnitude -> signed):
// a > b as floats  <=>  key(a) > key(b), for all non-NaN a, b; +0 and -0 get
// the same key (they compare equal); NaN maps to INT_MIN so `key(v) > best`
// is false for it, exactly like the IEEE comparison `v > best`.
__device__ __forceinline__ int roi_f16_key(unsigned short bits, unsigned int inf_bits) {
  unsigned int mag = (unsigned int)bits & 0x7fffu;
  if (mag > inf_bits) return ROI_INT_MIN;
  return (bits & 0x8000u) ? -(int)mag : (int)mag;
}

// ----------------------------------------------------------------------------
// Data-type traits.  storage_t: element in memory; key_t: what `>` compares;
// acc_t: backward accumulator.  kHasSentinel: a bin's running max starts
// at (T)(-FLT_MAX) with argmax -1 (floats); integer types have no sentinel,
// the bin's first element initialises the max (golden.dtypes.sentinel).
// ----------------------------------------------------------------------------
struct roi_f32 {
  typedef float storage_t;
  typedef float key_t;
  typedef float acc_t;
  enum { kHasSentinel = 1 };
  static __device__ __forceinline__ key_t key(storage_t v) { return v; }
  static __device__ __forceinline__ storage_t sentinel() { return __uint_as_float(0xff7fffffu); }  // -FLT_MAX
  static __device__ __forceinline__ storage_t zero() { return 0.0f; }
  static __device__ __forceinline__ acc_t to_acc(storage_t v) { return v; }
  static __device__ __forceinline__ acc_t add(acc_t a, acc_t b) { return __fadd_rn(a, b); }
  static __device__ __forceinline__ storage_t from_acc(acc_t a) { return a; }
};

struct roi_f64 {
  typedef double storage_t;
  typedef double key_t;
  typedef double acc_t;
  enum { kHasSentinel = 1 };
  static __device__ __forceinline__ key_t key(storage_t v) { return v; }
  // (double)(-FLT_MAX): the float32 value, exactly, as Caffe2/torchvision
  static __device__ __forceinline__ storage_t sentinel() { return (double)__uint_as_float(0xff7fffffu); }
  static __device__ __forceinline__ storage_t zero() { return 0.0; }
  static __device__ __forceinline__ acc_t to_acc(storage_t v) { return v; }
  static __device__ __forceinline__ acc_t add(acc_t a, acc_t b) { return __dadd_rn(a, b); }
  static __device__ __forceinline__ storage_t from_acc(acc_t a) { return a; }
};

struct roi_f16 {
  typedef unsigned short storage_t;
  typedef int key_t;
  typedef float acc_t;
  enum { kHasSentinel = 1 };
  static __device__ __forceinline__ key_t key(storage_t v) { return roi_f16_key(v, 0x7c00u); }
  static __device__ __forceinline__ storage_t sentinel() { return (unsigned short)0xfc00u; }  // (half)-FLT_MAX = -inf
  static __device__ __forceinline__ storage_t zero() { return (unsigned short)0u; }
  static __device__ __forceinline__ acc_t to_acc(storage_t v) { return roi_half_to_float(v); }
  static __device__ __forceinline__ acc_t add(acc_t a, acc_t b) { return __fadd_rn(a, b); }
  static __device__ __forceinline__ storage_t from_acc(acc_t a) { return roi_float_to_half_rn(a); }
};

struct roi_bf16 {
  typedef unsigned short storage_t;
  typedef int key_t;
  typedef float acc_t;
  enum { kHasSentinel = 1 };
  static __device__ __forceinline__ key_t key(storage_t v) { return roi_f16_key(v, 0x7f80u); }
  static __device__ __forceinline__ storage_t sentinel() { return (unsigned short)0xff80u; }  // (bf16)-FLT_MAX = -inf
  static __device__ __forceinline__ storage_t zero() { return (unsigned short)0u; }
  static __device__ __forceinline__ acc_t to_acc(storage_t v) { return roi_bf16_to_float(v); }
  static __device__ __forceinline__ acc_t add(acc_t a, acc_t b) { return __fadd_rn(a, b); }
  static __device__ __forceinline__ storage_t from_acc(acc_t a) { return roi_float_to_bf16_rn(a); }
};

#define ROI_INT_TRAITS(NAME, T)                                                   \
  struct NAME {                                                                   \
    typedef T storage_t;                                                          \
    typedef int key_t;                                                            \
    typedef int acc_t; /* unused: golden has no integer backward */              \
    enum { kHasSentinel = 0 };                                                    \
    static __device__ __forceinline__ key_t key(storage_t v) { return (int)v; }   \
    static __device__ __forceinline__ storage_t sentinel() { return (T)0; }       \
    static __device__ __forceinline__ storage_t zero() { return (T)0; }           \
  };
ROI_INT_TRAITS(roi_i8, signed char)
ROI_INT_TRAITS(roi_i16, short)
ROI_INT_TRAITS(roi_i32, int)
#undef ROI_INT_TRAITS

// ----------------------------------------------------------------------------
// Geometry
// ----------------------------------------------------------------------------

// C round() of a float/double (half away from zero), as an int.  Written out
// rather than calling roundf so that it is the golden model's c_round line
// for line: |x| - trunc(|x|) is exact in binary floating point.  Validation
// bounds |x| by 2**24, so the int conversion cannot overflow.
__device__ __forceinline__ int roi_c_round_f(float x) {
  float a = fabsf(x);
  float t = truncf(a);
  int r = (int)t + ((a - t >= 0.5f) ? 1 : 0);
  return x < 0.0f ? -r : r;
}

__device__ __forceinline__ int roi_c_round_d(double x) {
  double a = fabs(x);
  double t = trunc(a);
  int r = (int)t + ((a - t >= 0.5) ? 1 : 0);
  return x < 0.0 ? -r : r;
}

// Coordinate type and scaled rounding per mode.
template <int MODE> struct roi_coord;

template <> struct roi_coord<ROI_MODE_EXACT> {
  typedef float coord_t;  // exact mode rounds coordinates as float32 mode does
  static __device__ __forceinline__ int scale_round(coord_t x, double scale) {
    return roi_c_round_f(__fmul_rn(x, __double2float_rn(scale)));
  }
};
template <> struct roi_coord<ROI_MODE_FLOAT32> {
  typedef float coord_t;
  static __device__ __forceinline__ int scale_round(coord_t x, double scale) {
    return roi_c_round_f(__fmul_rn(x, __double2float_rn(scale)));
  }
};
template <> struct roi_coord<ROI_MODE_FLOAT64> {
  typedef double coord_t;
  static __device__ __forceinline__ int scale_round(coord_t x, double scale) {
    return roi_c_round_d(__dmul_rn(x, scale));
  }
};
template <> struct roi_coord<ROI_MODE_FLOAT16> {
  typedef unsigned short coord_t;  // half bits
  static __device__ __forceinline__ int scale_round(coord_t x, double scale) {
    // c10::Half: scale reaches the kernel as double -> float -> half; the
    // product is computed in float32 and rounded to half, then rounded.
    float s = roi_half_to_float(roi_float_to_half_rn(__double2float_rn(scale)));
    float p = __fmul_rn(roi_half_to_float(x), s);
    return roi_c_round_f(roi_half_to_float(roi_float_to_half_rn(p)));
  }
};

// Unclipped (floor(p * extent / pooled), ceil((p + 1) * extent / pooled)) in
// the mode's arithmetic.  No FMA: bin_size is one rounded division, each
// position one rounded multiply (the _rn intrinsics are never contracted).
template <int MODE>
__device__ __forceinline__ void roi_bin_offsets(int p, int extent, int pooled, int* start, int* end) {
  if (MODE == ROI_MODE_EXACT) {
    long long e = extent, n = pooled;  // 64-bit: (p + 1) * extent may exceed 2^31
    *start = (int)(((long long)p * e) / n);               // operands >= 0: '/' is floor
    *end = (int)((((long long)p + 1) * e + n - 1) / n);   // ceil
  } else if (MODE == ROI_MODE_FLOAT32) {
    float size = __fdiv_rn((float)extent, (float)pooled);
    *start = (int)floorf(__fmul_rn((float)p, size));
    *end = (int)ceilf(__fmul_rn((float)(p + 1), size));
  } else if (MODE == ROI_MODE_FLOAT64) {
    double size = __ddiv_rn((double)extent, (double)pooled);
    *start = (int)floor(__dmul_rn((double)p, size));
    *end = (int)ceil(__dmul_rn((double)(p + 1), size));
  } else {  // ROI_MODE_FLOAT16: each operation in float32, each result rounded to half
    float ext = roi_half_to_float(roi_float_to_half_rn((float)extent));
    float n = roi_half_to_float(roi_float_to_half_rn((float)pooled));
    float size = roi_half_to_float(roi_float_to_half_rn(__fdiv_rn(ext, n)));
    float p0 = roi_half_to_float(roi_float_to_half_rn((float)p));
    float p1 = roi_half_to_float(roi_float_to_half_rn((float)(p + 1)));
    *start = (int)floorf(roi_half_to_float(roi_float_to_half_rn(__fmul_rn(p0, size))));
    *end = (int)ceilf(roi_half_to_float(roi_float_to_half_rn(__fmul_rn(p1, size))));
  }
}

// Clipped [start, end) of bin p along one axis.
template <int MODE>
__device__ __forceinline__ void roi_bin_range(int p, int origin, int extent, int pooled, int limit,
                                              int* start, int* end) {
  int s, e;
  roi_bin_offsets<MODE>(p, extent, pooled, &s, &e);
  s += origin;
  e += origin;
  *start = s < 0 ? 0 : (s > limit ? limit : s);
  *end = e < 0 ? 0 : (e > limit ? limit : e);
}

struct roi_geom {
  long long b;  // image index
  int x1, y1;   // rounded origin (unclipped)
  int roi_w, roi_h;  // >= 1: malformed RoIs become 1 wide/high
};

template <int MODE>
__device__ __forceinline__ roi_geom roi_geometry(const long long* __restrict__ batch,
                                                 const typename roi_coord<MODE>::coord_t* __restrict__ boxes,
                                                 double scale, int k) {
  roi_geom g;
  g.b = batch[k];
  const typename roi_coord<MODE>::coord_t* box = boxes + 4LL * k;
  int x1 = roi_coord<MODE>::scale_round(box[0], scale);
  int y1 = roi_coord<MODE>::scale_round(box[1], scale);
  int x2 = roi_coord<MODE>::scale_round(box[2], scale);
  int y2 = roi_coord<MODE>::scale_round(box[3], scale);
  g.x1 = x1;
  g.y1 = y1;
  g.roi_w = (x2 - x1 + 1) > 1 ? (x2 - x1 + 1) : 1;
  g.roi_h = (y2 - y1 + 1) > 1 ? (y2 - y1 + 1) : 1;
  return g;
}

// ----------------------------------------------------------------------------
// Forward, simple: one thread per output element (torchvision's
// decomposition).  Kept as the obviously-right baseline, as the fallback when
// the tiled kernel's shared memory would not fit, and as a cross-check.
// ----------------------------------------------------------------------------
template <typename DT, int MODE>
__global__ void roi_pool_forward_simple(const typename DT::storage_t* __restrict__ x,
                                        const long long* __restrict__ batch,
                                        const typename roi_coord<MODE>::coord_t* __restrict__ boxes,
                                        double scale, int K, int C, int H, int W, int PH, int PW,
                                        typename DT::storage_t* __restrict__ out,
                                        long long* __restrict__ argmax) {
  typedef typename DT::storage_t T;
  const long long total = (long long)K * C * PH * PW;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (long long)blockDim.x * gridDim.x) {
    const int pw = (int)(i % PW);
    const int ph = (int)((i / PW) % PH);
    const long long kc = i / ((long long)PW * PH);  // k * C + c
    const int c = (int)(kc % C);
    const int k = (int)(kc / C);
    roi_geom g = roi_geometry<MODE>(batch, boxes, scale, k);
    int hs, he, ws, we;
    roi_bin_range<MODE>(ph, g.y1, g.roi_h, PH, H, &hs, &he);
    roi_bin_range<MODE>(pw, g.x1, g.roi_w, PW, W, &ws, &we);
    if (he <= hs || we <= ws) {  // empty bin
      out[i] = DT::zero();
      argmax[i] = -1;
      continue;
    }
    const T* plane = x + (g.b * C + c) * (long long)H * W;
    T best;
    long long best_idx;
    if (DT::kHasSentinel) {
      best = DT::sentinel();
      best_idx = -1;
    } else {
      best = plane[(long long)hs * W + ws];
      best_idx = (long long)hs * W + ws;
    }
    // Raster scan, strict '>': the first maximum wins, NaN never wins.
    for (int h = hs; h < he; ++h) {
      for (int w = ws; w < we; ++w) {
        const long long idx = (long long)h * W + w;
        const T v = plane[idx];
        if (DT::key(v) > DT::key(best)) {
          best = v;
          best_idx = idx;
        }
      }
    }
    out[i] = best;
    argmax[i] = best_idx;
  }
}

// ----------------------------------------------------------------------------
// Forward, tiled: one block per (RoI, channel) plane, two phases.
//
// Why: in NCHW a bin's elements are short row segments.  With one thread per
// bin (torchvision) the lanes of a warp read columns a bin-width apart, in
// several rows at once, so every load instruction touches ~one sector per
// lane.  Here phase 1 gives consecutive threads consecutive columns of the
// RoI, so each row segment is read by one coalesced access and each element
// exactly once per row band (no re-reading of bin boundaries by neighbours).
// Phase 2 gives consecutive threads consecutive outputs, so the writes of
// out[k, c, :, :] (and argmax, the dominant traffic) are contiguous.
//
// Phase 1 (separable max, rows): for every row band ph and column w of the
// RoI's column range [lo, hi), scan rows hstart..hend-1 of that column with
// the scalar rule (sentinel start / first element for integers, strict '>')
// and store (value, first row) in shared memory.
// Phase 2 (columns): output (ph, pw) takes the maximum over its columns'
// candidates; equal values go to the smaller h * W + w.  This is exactly the
// first maximum in raster (row-major) order that the scalar scan returns:
// every column's candidate is its first row holding the column maximum, and
// raster order is lexicographic in (h, w).  A column with no candidate (row
// -1: everything NaN or <= sentinel) never wins; if no column has one, the
// bin gets the sentinel and -1, as the scalar scan gives.
//
// Shared memory: PH * W values then PH * W ints (host: _tiled_smem_bytes);
// the RoI's clipped width never exceeds W.  The grid-stride loop keeps every
// thread of a block on the same iteration count, so __syncthreads is safe.
// ----------------------------------------------------------------------------
template <typename DT, int MODE>
__global__ void roi_pool_forward_tiled(const typename DT::storage_t* __restrict__ x,
                                       const long long* __restrict__ batch,
                                       const typename roi_coord<MODE>::coord_t* __restrict__ boxes,
                                       double scale, int K, int C, int H, int W, int PH, int PW,
                                       typename DT::storage_t* __restrict__ out,
                                       long long* __restrict__ argmax) {
  typedef typename DT::storage_t T;
  extern __shared__ double roi_smem[];  // double: 8-byte alignment for any T
  T* col_val = reinterpret_cast<T*>(roi_smem);
  const long long val_bytes = (((long long)PH * W * (long long)sizeof(T)) + 7LL) & ~7LL;
  int* col_row = reinterpret_cast<int*>(reinterpret_cast<unsigned char*>(roi_smem) + val_bytes);

  const long long planes = (long long)K * C;
  for (long long kc = blockIdx.x; kc < planes; kc += gridDim.x) {
    const int c = (int)(kc % C);
    const int k = (int)(kc / C);
    roi_geom g = roi_geometry<MODE>(batch, boxes, scale, k);

    // Column range covered by the non-empty column bins.
    int lo = W, hi = 0;
    for (int pw = 0; pw < PW; ++pw) {
      int ws, we;
      roi_bin_range<MODE>(pw, g.x1, g.roi_w, PW, W, &ws, &we);
      if (we > ws) {
        lo = ws < lo ? ws : lo;
        hi = we > hi ? we : hi;
      }
    }
    const int ncols = hi > lo ? hi - lo : 0;
    const T* plane = x + (g.b * C + c) * (long long)H * W;

    // Phase 1: per (row band, column) maximum with its first row.
    for (int t = threadIdx.x; t < PH * ncols; t += blockDim.x) {
      const int ph = t / ncols;
      const int w = lo + (t - ph * ncols);
      int hs, he;
      roi_bin_range<MODE>(ph, g.y1, g.roi_h, PH, H, &hs, &he);
      T best = DT::sentinel();
      int row = -1;
      if (!DT::kHasSentinel && he > hs) {
        best = plane[(long long)hs * W + w];
        row = hs;
      }
      for (int h = hs; h < he; ++h) {
        const T v = plane[(long long)h * W + w];
        if (DT::key(v) > DT::key(best)) {
          best = v;
          row = h;
        }
      }
      col_val[t] = best;
      col_row[t] = row;
    }
    __syncthreads();

    // Phase 2: per bin, the best column candidate; contiguous writes.
    for (int t = threadIdx.x; t < PH * PW; t += blockDim.x) {
      const int ph = t / PW;
      const int pw = t - ph * PW;
      const long long o = kc * PH * PW + t;
      int hs, he, ws, we;
      roi_bin_range<MODE>(ph, g.y1, g.roi_h, PH, H, &hs, &he);
      roi_bin_range<MODE>(pw, g.x1, g.roi_w, PW, W, &ws, &we);
      if (he <= hs || we <= ws) {
        out[o] = DT::zero();
        argmax[o] = -1;
        continue;
      }
      T best = DT::sentinel();
      long long best_idx = -1;
      for (int w = ws; w < we; ++w) {
        const int j = ph * ncols + (w - lo);
        const int r = col_row[j];
        if (r < 0) continue;  // no candidate in this column
        const T v = col_val[j];
        const long long idx = (long long)r * W + w;
        if (best_idx < 0 || DT::key(v) > DT::key(best) ||
            (DT::key(v) == DT::key(best) && idx < best_idx)) {
          best = v;
          best_idx = idx;
        }
      }
      out[o] = best;  // sentinel with -1 when no column had a candidate
      argmax[o] = best_idx;
    }
    __syncthreads();  // shared memory is reused by the next plane
  }
}

// ----------------------------------------------------------------------------
// Backward: segmented, fixed-order sums.
//
// The host builds one key per contribution (argmax >= 0):
//     key = target * M + pos,   target = (batch[k] * C + c) * H * W + argmax,
//     pos = raster position of the contribution in grad_out, M = grad_out.size
// and sorts the keys (they are unique, so any sort gives the same order):
// contributions to one input element are then adjacent and in raster order.
// The head thread of each run sums it sequentially, starting from 0, in acc_t,
// rounds once and writes the element; every other element of grad_input stays
// zero (the host zero-fills it).  Each output element has exactly one writer
// and a fixed summation order, so the result is deterministic and equal, bit
// for bit, to golden.roi_pool_backward (np.add.at in raster order).
// ----------------------------------------------------------------------------
template <typename DT>
__global__ void roi_pool_backward_segments(const long long* __restrict__ keys, long long n_keys, long long M,
                                           const typename DT::storage_t* __restrict__ grad_out,
                                           typename DT::storage_t* __restrict__ grad_in) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n_keys;
       i += (long long)blockDim.x * gridDim.x) {
    const long long target = keys[i] / M;
    if (i > 0 && keys[i - 1] / M == target) continue;  // not the head of its run
    typename DT::acc_t acc = 0;
    for (long long j = i; j < n_keys && keys[j] / M == target; ++j) {
      acc = DT::add(acc, DT::to_acc(grad_out[keys[j] % M]));
    }
    grad_in[target] = DT::from_acc(acc);
  }
}
