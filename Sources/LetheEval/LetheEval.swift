// LetheEval
