## A chain of pointwise stages in one kernel (cltorch.compile's fusion): each stage is one
## pointwise.mako expression over a, b, c, d; its operands are the kernel's inputs or earlier
## stages' results, which stay in registers instead of making a trip through memory.
##   name      kernel name
##   compute   dtype every stage computes in (an intermediate's stored dtype is this one too,
##             so keeping it in a register rounds nothing the unfused chain did not)
##   out       dtype of the output buffer (the last stage's)
##   inputs    tuple of (kind, dtype) per kernel input: "c" contiguous, "s" strided, "v" scalar
##   stages    tuple of (expr, sources): a source is ("in", k) or ("stage", j)
##   out_kind  "c" or "s";  ndim  dims of the strided layout (0: all contiguous);  index  C type
<%namespace file="_prelude.mako" import="prelude, load, store, strided_offsets"/>
<%namespace file="_math.mako" import="helpers"/>
<%
    T = dialect.ctype(compute)
    names = "abcd"
    fp64 = compute.name == "float64" or out.name == "float64" or \
        any(dt.name == "float64" for _, dt in inputs)
%>
${prelude(fp64)}
${helpers(T, compute.is_floating_point)}
<%!
def strides(tag, ndim, index):
    return "".join(", const %s ct_%s_st%d" % (index, tag, d) for d in range(ndim))

def offset(tag, kind):
    return "ct_%s_off + %s" % (tag, "ct_%s_pos" % tag if kind == "s" else "ct_i")
%>
KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_out, const ${index} ct_out_off${strides("out", ndim, index) if out_kind == "s" else ""}
% for k, (kind, dt) in enumerate(inputs):
% if kind == "v":
    , const ${T} ct_v${k}
% else:
    , GLOBAL const ${dialect.ctype(dt)}* ct_in${k}, const ${index} ct_in${k}_off${strides("in%d" % k, ndim, index) if kind == "s" else ""}
% endif
% endfor
    , const ${index} ct_n
% for d in range(ndim):
    , const ${index} ct_size${d}
% endfor
    )
{
    for (${index} ct_i = (${index})GID(0); ct_i < ct_n; ct_i += (${index})GLOBAL_SIZE(0)) {
% if ndim:
<% tags = (["out"] if out_kind == "s" else []) + ["in%d" % k for k, (kind, _) in enumerate(inputs) if kind == "s"] %>\
% for tag in tags:
        ${index} ct_${tag}_pos = 0;
% endfor
        ${strided_offsets(index, "ct_i", "ct_size%d",
                          [("ct_%s_pos" % tag, "ct_%s_st%%d" % tag, ()) for tag in tags],
                          range(ndim))}
% endif
% for k, (kind, dt) in enumerate(inputs):
% if kind == "v":
        const ${T} ct_x${k} = ct_v${k};
% else:
        const ${T} ct_x${k} = ${load(dt, "ct_in%d" % k, offset("in%d" % k, kind), T)};
% endif
% endfor
% for j, (expr, sources) in enumerate(stages):
        ${T} ct_r${j};
        {
% for letter, (where, k) in zip(names, sources):
            const ${T} ${letter} = ${"ct_x%d" % k if where == "in" else "ct_r%d" % k};
% endfor
            ct_r${j} = ${expr};
        }
% endfor
        ${store(out, "ct_out", offset("out", out_kind), "ct_r%d" % (len(stages) - 1))};
    }
}
