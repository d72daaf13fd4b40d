## Checks values on the device, with no host synchronisation: the first element of the strided
## view x found outside [low, high] (NaN included) is recorded in the device's error slot,
## slot[0] = the check's site (nonzero), slot[1], slot[2] = the low and high 32 bits of the
## value (its float32 bits for float16/bfloat16/float32, its float64 bits for float64, the
## integer itself otherwise). The host reads the slot at its next synchronisation and raises,
## as CUDA's device-side asserts surface (backend/base.py ErrorSlot).
<%namespace file="_prelude.mako" import="prelude, load, strided_offsets"/>
<%
    idx = index
    fp64 = dtype.name == "float64"
    C = dialect.ctype(dtype.compute)
    if dtype.name == "float64":
        bits = "F64_BITS(ct_v)"
    elif dtype.is_floating_point:
        bits = "F32_BITS((float)ct_v)"
    else:
        bits = f"({dialect.int64})ct_v"
%>
${prelude(fp64)}

KERNEL void ${name}(GLOBAL int* ct_slot, const int ct_site,
    GLOBAL const ${dialect.ctype(dtype)}* ct_x, const ${idx} ct_off, const ${idx} ct_n,
    const ${C} ct_low, const ${C} ct_high
% for d in range(ndim):
    , const ${idx} ct_size${d}, const ${idx} ct_st${d}
% endfor
    )
{
    for (${idx} ct_i = (${idx})GID(0); ct_i < ct_n; ct_i += (${idx})GLOBAL_SIZE(0)) {
        ${idx} ct_pos = ct_off;
        ${strided_offsets(idx, "ct_i", "ct_size%d", [("ct_pos", "ct_st%d", ())], range(ndim))}
        const ${C} ct_v = ${load(dtype, "ct_x", "ct_pos", C)};
        if (!(ct_v >= ct_low && ct_v <= ct_high) && ATOMIC_CAS_I32(ct_slot, 0, ct_site) == 0) {
            const ${dialect.int64} ct_bits = (${dialect.int64})${bits};
            ct_slot[1] = (int)(ct_bits & 0xffffffff);
            ct_slot[2] = (int)(ct_bits >> 32);
        }
    }
}
