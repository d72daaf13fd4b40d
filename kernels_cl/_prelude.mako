## The only place that branches on the dialect. Kernel bodies use these macros and are written
## once: KERNEL, GLOBAL, LOCAL, LOCAL_PTR (a pointer's local address space), BARRIER,
## GID/LID/GROUP_ID/LOCAL_SIZE/GLOBAL_SIZE, INLINE,
## F32_BITS/BITS_F32/F64_BITS, LOAD_F16/STORE_F16, ATOMIC_*, FMA (a fused multiply-add whatever
## the contraction setting: GEMM's inner loop, where issue 14 allows it). ct_ prefixes every
## internal name.
<%def name="prelude(fp64=False)">
% if dialect.name == "cuda":
#define KERNEL extern "C" __global__
#define GLOBAL
#define LOCAL __shared__
#define LOCAL_PTR
#define BARRIER __syncthreads()
#define INLINE __device__ __forceinline__
#define F32_BITS(x) __float_as_uint(x)
#define BITS_F32(x) __uint_as_float(x)
#define SQRT_F32(x) sqrtf(x)
#define NAN_F32 __int_as_float(0x7fffffff)
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
typedef unsigned int uint;
typedef unsigned short ushort;
INLINE unsigned long long ct_dim3(const uint3 v, int d) { return d == 0 ? v.x : (d == 1 ? v.y : v.z); }
INLINE unsigned long long ct_dim3(const dim3 v, int d) { return d == 0 ? v.x : (d == 1 ? v.y : v.z); }
#define LID(d) ct_dim3(threadIdx, d)
#define GROUP_ID(d) ct_dim3(blockIdx, d)
#define LOCAL_SIZE(d) ct_dim3(blockDim, d)
#define GID(d) (GROUP_ID(d) * LOCAL_SIZE(d) + LID(d))
#define GLOBAL_SIZE(d) (ct_dim3(gridDim, d) * LOCAL_SIZE(d))
#define NUM_GROUPS(d) ct_dim3(gridDim, d)
INLINE float ct_half_to_float(unsigned short h) {
    float f; asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h)); return f;
}
INLINE unsigned short ct_float_to_half(float f) {
    unsigned short h; asm("{ cvt.rn.f16.f32 %0, %1; }" : "=h"(h) : "f"(f)); return h;
}
#define LOAD_F16(p, i) ct_half_to_float((p)[i])
#define STORE_F16(p, i, v) ((p)[i] = ct_float_to_half(v))
#define ATOMIC_ADD_F32(p, v) atomicAdd((p), (v))
#define ATOMIC_ADD_I32(p, v) atomicAdd((p), (v))
#define ATOMIC_ADD_F64(p, v) atomicAdd((p), (v))
#define ATOMIC_ADD_I64(p, v) atomicAdd((unsigned long long*)(p), (unsigned long long)(v))
#define ATOMIC_CAS_I32(p, cmp, v) atomicCAS((int*)(p), (cmp), (v))
#define F64_BITS(x) __double_as_longlong(x)
#define FMA(a, b, c) fma((a), (b), (c))
% else:
% if fp64:
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
% endif
// No contraction of a * b + c into fma: the same roundings as CUDA (--fmad=false) and NumPy.
#pragma OPENCL FP_CONTRACT OFF
#define KERNEL __kernel
#define GLOBAL __global
#define LOCAL __local
#define LOCAL_PTR __local
#define BARRIER barrier(CLK_LOCAL_MEM_FENCE)
#define INLINE inline
#define F32_BITS(x) as_uint(x)
#define BITS_F32(x) as_float(x)
// PoCL calls its sqrt out of line, which keeps a kernel from vectorising across work-items (a
// chain of 8 pointwise stages took 52 ms instead of 20 on 2^24 floats): there the backend
// defines CT_BUILTIN_SQRT, and clang's builtin is LLVM's sqrt intrinsic, correctly rounded
// (bitwise equal to NumPy's). Not everywhere clang is: Oclgrind has no such intrinsic.
#ifdef CT_BUILTIN_SQRT
#define SQRT_F32(x) __builtin_sqrtf(x)
#else
#define SQRT_F32(x) sqrt(x)
#endif
#define NAN_F32 as_float(0x7fffffff)
#define LID(d) get_local_id(d)
#define GROUP_ID(d) get_group_id(d)
#define LOCAL_SIZE(d) get_local_size(d)
#define GID(d) get_global_id(d)
#define GLOBAL_SIZE(d) get_global_size(d)
#define NUM_GROUPS(d) get_num_groups(d)
#define LOAD_F16(p, i) vload_half((i), (p))
#define STORE_F16(p, i, v) vstore_half_rte((v), (i), (p))
// float atomics: a compare-and-swap loop on the bits (32-bit global atomics are core OpenCL).
// The first guess is 0, not a plain read of *p: that read would race with other work-items'
// atomics (Oclgrind reports it), and scatter-adds mostly land on zeros.
INLINE void ct_atomic_add_f32(volatile __global float* p, float v) {
    uint seen = 0, expected;
    do {
        expected = seen;
        seen = atomic_cmpxchg((volatile __global uint*)p, expected, as_uint(as_float(expected) + v));
    } while (seen != expected);
}
#define ATOMIC_ADD_F32(p, v) ct_atomic_add_f32((p), (v))
#define ATOMIC_ADD_I32(p, v) atomic_add((volatile __global int*)(p), (v))
#define ATOMIC_CAS_I32(p, cmp, v) atomic_cmpxchg((volatile __global int*)(p), (cmp), (v))
#define F64_BITS(x) as_long(x)
#define FMA(a, b, c) fma((a), (b), (c))
% endif
## ct_int64: the 64-bit index type of ops.launch.index_types (CUDA's long is 32 bits on Windows)
typedef ${dialect.int64} ct_int64;
INLINE float ct_bf16_to_float(ushort b) { return BITS_F32(((uint)b) << 16); }
INLINE ushort ct_float_to_bf16(float f) {
    uint u = F32_BITS(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
    return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
</%def>

## Allow a * b + c to contract into one fused multiply-add in the enclosing compound statement
## (at its start): for CPU kernels, where PoCL calls its fma() out of line (10 GF/s against
## 83 for a contracted GEMM). CUDA's builds keep --fmad=false; its kernels call FMA().
<%def name="contract()">\
% if dialect.name == "opencl":
#pragma OPENCL FP_CONTRACT ON
% endif
</%def>

## The body (a <%call>'s) for each item `i` < `n` of a 1-D grid: one item per work-item where
## the grid covers them all, else a grid-stride loop (a device caps its groups). The branch is
## uniform. The first form is the one PoCL vectorises across work-items: around a loop its
## work-item loop stays scalar (a chain of 8 pointwise stages over 2^24 floats took 63 ms
## instead of 46, a multiply 23 instead of 17, on one thread).
<%def name="each_item(idx, i, n)">\
    if ((${idx})GLOBAL_SIZE(0) >= ${n}) {
        const ${idx} ${i} = (${idx})GID(0);
        if (${i} < ${n}) {
${caller.body()}
        }
    } else {
        for (${idx} ${i} = (${idx})GID(0); ${i} < ${n}; ${i} += (${idx})GLOBAL_SIZE(0)) {
${caller.body()}
        }
    }
</%def>

## Load element idx of a buffer of dtype `dt` as compute type `ct`.
<%def name="load(dt, ptr, idx, ct)">\
% if dt.name == "float16":
((${ct})LOAD_F16(${ptr}, ${idx}))\
% elif dt.name == "bfloat16":
((${ct})ct_bf16_to_float(${ptr}[${idx}]))\
% else:
((${ct})${ptr}[${idx}])\
% endif
</%def>

## Store value v (any arithmetic type) to element idx of a buffer of dtype `dt`.
<%def name="store(dt, ptr, idx, v)">\
% if dt.name == "float16":
STORE_F16(${ptr}, ${idx}, (float)(${v}))\
% elif dt.name == "bfloat16":
${ptr}[${idx}] = ct_float_to_bf16((float)(${v}))\
% elif dt.name == "bool":
${ptr}[${idx}] = (unsigned char)((${v}) != 0)\
% else:
${ptr}[${idx}] = (${dialect.ctype(dt)})(${v})\
% endif
</%def>

## The strided-index walk every template shares: add to each position the offset of element
## number `linear` of a strided view. `dims` are walked innermost first (the last of them
## varies fastest); `size % d` names dim d's size; each term (position, stride pattern,
## dims it skips) moves `position` by `stride % d` per step along dim d. The outermost dim
## takes what is left of `linear` (it is smaller than the view's size) without a modulo.
<%def name="strided_offsets(idx, linear, size, terms, dims)">\
<% walked = list(dims) %>\
% if walked:
{
        ${idx} ct_rest = ${linear};
% for d in reversed(walked):
        {
% if d == walked[0]:
            const ${idx} ct_c = ct_rest;
% else:
            const ${idx} ct_c = ct_rest % ${size % d};
            ct_rest /= ${size % d};
% endif
% for position, stride, skip in terms:
% if d not in skip:
            ${position} += ct_c * ${stride % d};
% endif
% endfor
        }
% endfor
        }
% endif
</%def>

## The outputs o in [lo, hi) of a row of OUT whose input o * STRIDE - PAD + SHIFT lies inside
## [0, SIZE): a window tap's run along an output row, clipped to the image (CPU row forms: no
## per-element bounds test in their inner loops)
<%def name="clipped_run(idx, lo, hi, OUT, STRIDE, PAD, SHIFT, SIZE)">
        const ${idx} ${lo} = ${PAD} - ${SHIFT} <= 0 ? 0 : (${PAD} - ${SHIFT} + ${STRIDE} - 1) / ${STRIDE};
        const ${idx} ${hi}_last = ${SIZE} - 1 + ${PAD} - ${SHIFT};
        const ${idx} ${hi} = ${hi}_last < 0 ? 0 : (${hi}_last / ${STRIDE} + 1 < ${OUT} ? ${hi}_last / ${STRIDE} + 1 : ${OUT});
</%def>
