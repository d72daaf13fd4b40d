"""A custom autograd Function (a linear map, as in PyTorch's "Extending PyTorch" notes)
wrapped in a Module, checked with gradcheck."""
import cltorch as torch
import cltorch.nn as nn
from cltorch.autograd import Function


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MyLinear(nn.Module):
    def __init__(self, input_features, output_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(output_features, input_features))
        self.bias = nn.Parameter(torch.empty(output_features)) if bias else None
        nn.init.uniform_(self.weight, -0.1, 0.1)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -0.1, 0.1)

    def forward(self, input):
        return LinearFunction.apply(input, self.weight, self.bias)


layer = MyLinear(5, 3)
out = layer(torch.randn(4, 5))
out.sum().backward()
print(out.shape, "weight grad:", layer.weight.grad.shape)
inputs = (torch.randn(4, 5, dtype=torch.double, requires_grad=True),
          torch.randn(3, 5, dtype=torch.double, requires_grad=True),
          torch.randn(3, dtype=torch.double, requires_grad=True))
print("gradcheck:", torch.autograd.gradcheck(LinearFunction.apply, inputs))
