## Reduce K elements into each of M outputs: one work-group per (output, split).
##   map(v)        C expression over v (input value in compute type), e.g. "v" or "fabs(v)"
##   init          C literal of the accumulator's start value
##   combine(a,b)  C expression combining two accumulators
##   post(a)       C expression finishing an accumulator (ct_count = K, in compute type)
##   arg           "max"/"min": track the index of the best element (argmax/argmin) instead
##   final         True: apply post and store into `out`; False: store raw partial accumulators
##   arg_in        (arg only) the input is a first pass's partial results: candidate indices
##                 come from `ct_in_index` instead of the element's position
##   kept_ndim / red_ndim: collapsed dims of outputs / of the reduced elements; group_size
## With split S > 1 each output's K elements are cut into S chunks (the first of two passes).
## columns C > 1 (GPUs, outputs adjacent in memory and reduced elements not): a work-group
## serves C adjacent outputs, its items being C columns of group_size / C slices that stride
## through the reduced elements, so that each step reads C adjacent elements (one work-group
## per output would read a column of a row-major matrix one element per row). Arg rows are
## written for it too, but ops/reduce.py does not use it for them (PoCL miscompiles it).
## cpu (CPU devices, one item per group, no arg rows; see cpu_rows and cpu_block below):
##   "rows"   one item per (output, chunk), `lanes` interleaved accumulators over the
##            contiguous innermost reduced dim
##   "block"  one item per (`lanes` adjacent outputs, chunk), stepping through the reduced
##            elements a row of `lanes` contiguous values at a time (a column sum)
##   prologue      None, or an ops/fused.Epilogue of contiguous inputs computing in `compute`,
##                 its output stored in `src`: the pointwise chain whose result the input is
##                 (cltorch.compile's fusion) runs at each element read, position p being the
##                 chain's element p, and the input is never stored
<%namespace file="_prelude.mako" import="prelude, load, store, strided_offsets"/>
<%namespace file="_math.mako" import="helpers"/>
<%namespace file="_epilogue.mako" import="input_params, stages"/>
<%
    T = dialect.ctype(compute)
    idx = index
    fp64 = "float64" in (compute.name, out.name, src.name) or bool(prologue) and \
        any(dt.name == "float64" for _, dt in prologue.inputs)
    C = columns
    S = group_size // C  # items per output (the reduced elements' stride)
    L = lanes
    ROWS = 4  # reduced elements per step of a CPU block
%>
${prelude(fp64)}
${helpers(T, compute.is_floating_point)}
% if arg:
## a beats the best so far (b, at bi): NaN beats numbers, ties go to the lower index
INLINE int ct_better(${T} a, ${idx} ai, ${T} b, ${idx} bi) {
    if (bi < 0) return 1;
% if compute.is_floating_point:
    if (b != b) return (a != a) && ai < bi;
    if (a != a) return 1;
% endif
    return (a ${">" if arg == "max" else "<"} b) || (a == b && ai < bi);
}
% endif

KERNEL void ${name}(GLOBAL ${dialect.ctype(out) if final else T}* ct_out,
% if arg:
    GLOBAL ${dialect.int64}* ct_out_index,
% endif
    GLOBAL const ${dialect.ctype(src)}* ct_in,
% if arg_in:
    GLOBAL const ${dialect.int64}* ct_in_index,
% endif
    const ${idx} ct_in_off, const ${idx} ct_m, const ${idx} ct_k, const ${idx} ct_split, const ${idx} ct_chunk,
    const ${T} ct_count
% for d in range(kept_ndim):
    , const ${idx} ct_ksize${d}, const ${idx} ct_kstride${d}
% endfor
% for d in range(red_ndim):
    , const ${idx} ct_rsize${d}, const ${idx} ct_rstride${d}
% endfor
% if prologue:
${input_params(prologue, idx)}
% endif
    )
{
% if cpu == "rows":
${cpu_rows()}
% elif cpu == "block":
${cpu_block()}
% else:
    LOCAL ${T} ct_acc_sh[${group_size}];
% if arg:
    LOCAL ${idx} ct_idx_sh[${group_size}];
% endif
    const ${idx} ct_lid = (${idx})LID(0);
% if C > 1:
    const ${idx} ct_slice = ct_lid / ${C};
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < (ct_m + ${C - 1}) / ${C} * ct_split; ct_g += (${idx})NUM_GROUPS(0)) {
        ## this item's output (past the last one: the last, computed and dropped)
        const ${idx} ct_mine = ct_g / ct_split * ${C} + ct_lid % ${C};
        const ${idx} ct_o = ct_mine < ct_m ? ct_mine : ct_m - 1;
% else:
    ## one output per group, written as simply as this: PoCL's work-group loops miscompiled
    ## the general form's argmax with one column (gpu-style tests, PoCL 3.0)
#define ct_slice ct_lid
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_m * ct_split; ct_g += (${idx})NUM_GROUPS(0)) {
        const ${idx} ct_o = ct_g / ct_split;
% endif
        const ${idx} ct_first = (ct_g % ct_split) * ct_chunk;
        const ${idx} ct_last = ct_first + ct_chunk < ct_k ? ct_first + ct_chunk : ct_k;
        ${idx} ct_base = ct_in_off;
        ${strided_offsets(idx, "ct_o", "ct_ksize%d", [("ct_base", "ct_kstride%d", ())],
                          range(kept_ndim))}
        ${T} ct_acc = ${init};
% if arg:
        ${idx} ct_best = -1;
% endif
        for (${idx} ct_r = ct_first + ct_slice; ct_r < ct_last; ct_r += ${S}) {
            ${idx} ct_pos = ct_base;
            ${strided_offsets(idx, "ct_r", "ct_rsize%d", [("ct_pos", "ct_rstride%d", ())],
                              range(red_ndim))}
${read("ct_pos")}
% if arg:
            const ${idx} ct_cand = ${"(" + idx + ")ct_in_index[ct_pos]" if arg_in else "ct_r"};
            if (ct_better(v, ct_cand, ct_acc, ct_best)) { ct_acc = v; ct_best = ct_cand; }
% else:
            { const ${T} a = ct_acc; const ${T} b = ${map_expr}; ct_acc = ${combine}; }
% endif
        }
        ct_acc_sh[ct_lid] = ct_acc;
% if arg:
        ct_idx_sh[ct_lid] = ct_best;
% endif
        BARRIER;
% for step in [2 ** i for i in reversed(range(S.bit_length() - 1))]:
        if (ct_slice < ${step}) {
% if arg:
            if (ct_better(ct_acc_sh[ct_lid + ${step * C}], ct_idx_sh[ct_lid + ${step * C}],
                          ct_acc_sh[ct_lid], ct_idx_sh[ct_lid])) {
                ct_acc_sh[ct_lid] = ct_acc_sh[ct_lid + ${step * C}];
                ct_idx_sh[ct_lid] = ct_idx_sh[ct_lid + ${step * C}];
            }
% else:
            const ${T} a = ct_acc_sh[ct_lid]; const ${T} b = ct_acc_sh[ct_lid + ${step * C}];
            ct_acc_sh[ct_lid] = ${combine};
% endif
        }
        BARRIER;
% endfor
% if C > 1:
        if (ct_slice == 0 && ct_mine < ct_m) {
            ## (output, chunk): where this output's result or partial goes
            const ${idx} ct_at = ct_mine * ct_split + ct_g % ct_split;
% else:
        if (ct_lid == 0) {
            const ${idx} ct_at = ct_g;
% endif
% if arg:
            ${store(out, "ct_out", "ct_at", "ct_acc_sh[ct_lid]")};
            ct_out_index[ct_at] = ct_idx_sh[ct_lid] < 0 ? 0 : ct_idx_sh[ct_lid];
% elif final:
            const ${T} a = ct_acc_sh[ct_lid];
            ${store(out, "ct_out", "ct_at", post)};
% else:
            ct_out[ct_at] = ct_acc_sh[ct_lid];
% endif
        }
        BARRIER;
    }
% if C == 1:
#undef ct_slice
% endif
% endif
}

## Fold one element (the map of v) into accumulator `acc`.
<%def name="fold(acc, position)">{ ${read(position)} const ${T} a = ${acc}; const ${T} b = ${map_expr}; ${acc} = ${combine}; }</%def>

## v: the input's element at `position` (the prologue's chain there, where there is one)
<%def name="read(position)">\
% if prologue:
${stages(prologue, idx, position)}
            const ${T} v = ct_r${len(prologue.stages) - 1};
% else:
            const ${T} v = ${load(src, "ct_in", position, T)};
% endif
</%def>

## Store accumulator `acc` of output (or partial) `at`.
<%def name="finish(acc, at)">
% if final:
            { const ${T} a = ${acc}; ${store(out, "ct_out", at, post)}; }
% else:
            ct_out[${at}] = ${acc};
% endif
</%def>

## The first of output ct_o's elements: the input's offset plus its kept dims' offsets.
<%def name="output_base(o)">
        ${idx} ct_base = ct_in_off;
        ${strided_offsets(idx, o, "ct_ksize%d", [("ct_base", "ct_kstride%d", ())],
                          range(kept_ndim))}
        const ${idx} ct_first = (ct_g % ct_split) * ct_chunk;
        const ${idx} ct_last = ct_first + ct_chunk < ct_k ? ct_first + ct_chunk : ct_k;
</%def>

## CPU rows: ${L} accumulators, element i going to lane i % ${L}, through each run of the
## contiguous innermost reduced dim (a single accumulator's fixed order would keep LLVM from
## vectorising the loop); the lanes are combined at the end.
<%def name="cpu_rows()">
    const ${idx} ct_inner = ct_rsize${red_ndim - 1};
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_m * ct_split; ct_g += (${idx})GLOBAL_SIZE(0)) {
        ${output_base("ct_g / ct_split")}
        ${T} ct_lane[${L}];
        for (int ct_j = 0; ct_j < ${L}; ct_j++) ct_lane[ct_j] = ${init};
        for (${idx} ct_r = ct_first; ct_r < ct_last; ) {
            const ${idx} ct_col = ct_r % ct_inner;
            const ${idx} ct_end = ct_r - ct_col + ct_inner < ct_last ? ct_r - ct_col + ct_inner : ct_last;
            ${idx} ct_pos = ct_base + ct_col;
            ${strided_offsets(idx, "ct_r / ct_inner", "ct_rsize%d", [("ct_pos", "ct_rstride%d", ())],
                              range(red_ndim - 1))}
            const ${idx} ct_n = ct_end - ct_r;
            ${idx} ct_i = 0;
            for (; ct_i + ${L} <= ct_n; ct_i += ${L})
                for (int ct_j = 0; ct_j < ${L}; ct_j++)
                    ${fold("ct_lane[ct_j]", "ct_pos + ct_i + ct_j")}
            for (; ct_i < ct_n; ct_i++)
                ${fold("ct_lane[0]", "ct_pos + ct_i")}
            ct_r = ct_end;
        }
        ${T} ct_acc = ct_lane[0];
        for (int ct_j = 1; ct_j < ${L}; ct_j++) {
            const ${T} a = ct_acc; const ${T} b = ct_lane[ct_j]; ct_acc = ${combine};
        }
${finish("ct_acc", "ct_g")}
    }
</%def>

## CPU block: ${L} adjacent outputs along the contiguous last kept dim per item (fewer at a
## row's end), each reduced element a step of ${L} contiguous loads, one per accumulator;
## ${ROWS} elements a step where ${ROWS} are left (the same order: each accumulator is read and
## written once a step, not once an element, which took PoCL's column sums from 6.3 to 4.2 ms)
<%def name="cpu_block()">
    const ${idx} ct_row = ct_ksize${kept_ndim - 1};
    const ${idx} ct_blocks = (ct_row + ${L - 1}) / ${L};
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_m / ct_row * ct_blocks * ct_split; ct_g += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_b = ct_g / ct_split;
        const ${idx} ct_col = ct_b % ct_blocks * ${L};
        const ${idx} ct_o = ct_b / ct_blocks * ct_row + ct_col;
        const ${idx} ct_w = ct_row - ct_col < ${L} ? ct_row - ct_col : ${L};
        ${output_base("ct_o")}
        ${T} ct_lane[${L}];
        for (int ct_j = 0; ct_j < ${L}; ct_j++) ct_lane[ct_j] = ${init};
        for (${idx} ct_r = ct_first; ct_r < ct_last; ) {
            const int ct_step = ct_last - ct_r < ${ROWS} ? 1 : ${ROWS};
% for q in range(ROWS):
            ${idx} ct_pos${q} = ct_base;
            ${strided_offsets(idx, "(ct_r + %d)" % q if q else "ct_r", "ct_rsize%d",
                              [("ct_pos%d" % q, "ct_rstride%d", ())], range(red_ndim))}
% endfor
            if (ct_step == ${ROWS} && ct_w == ${L}) {
${block_step(ROWS, L)}
            } else if (ct_step == ${ROWS}) {
${block_step(ROWS, "ct_w")}
            } else {
${block_step(1, "ct_w")}
            }
            ct_r += ct_step;
        }
        for (int ct_j = 0; ct_j < ct_w; ct_j++) {
${finish("ct_lane[ct_j]", "(ct_o + ct_j) * ct_split + ct_g % ct_split")}
        }
    }
</%def>

## Fold `rows` reduced elements (at ct_pos0...) into the first `width` accumulators.
<%def name="block_step(rows, width)">
                for (int ct_j = 0; ct_j < ${width}; ct_j++) {
                    ${T} ct_t = ct_lane[ct_j];
% for q in range(rows):
                    ${fold("ct_t", "ct_pos%d + ct_j" % q)}
% endfor
                    ct_lane[ct_j] = ct_t;
                }
</%def>
