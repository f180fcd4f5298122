# Write insteval_lme4.json: lme4's REML fit of InstEval's crossed model, the reference of
# tests/model/test_allfactor_insteval.py. Run from the repository root once, with Debian's
# R (apt-get install r-cran-lme4):
#
#     Rscript tests/statistical/reference/make_insteval_lme4.R
#
# The suite never runs R; it compares hierlmm's exact REML criterion (every factor
# integrated out) at lme4's estimates with lme4's own.
suppressMessages(library(lme4))
m <- lmer(y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept), InstEval, REML = TRUE)
vc <- as.data.frame(VarCorr(m))
sds <- setNames(vc$sdcor, ifelse(is.na(vc$var1), "sigma", vc$grp))
fe <- fixef(m)
out <- sprintf(paste0(
  '{\n  "model": "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)",\n',
  '  "method": "lme4::lmer, REML = TRUE",\n  "R": "%s",\n  "lme4": "%s",\n',
  '  "n": %d,\n  "reml_criterion": %.10f,\n',
  '  "sd": {"s": %.10f, "d": %.10f, "dept": %.10f},\n  "sigma": %.10f,\n',
  '  "fixed": {"Intercept": %.10f, "service[1]": %.10f}\n}\n'),
  R.version$version.string, as.character(packageVersion("lme4")), nobs(m), REMLcrit(m),
  sds[["s"]], sds[["d"]], sds[["dept"]], sds[["sigma"]], fe[[1]], fe[[2]])
writeLines(out, "tests/statistical/reference/insteval_lme4.json", sep = "")
